"""A model-based sampler that explores at random while the finished trials carry no signal.

TPE fits its good/bad split to whatever scores it has. When every finished trial sits on one
plateau (all within noise of each other), that split is noise, and TPE concentrates on the
corner that happened to score a hair better, often the one that stays on the plateau longest.
Until the best finished score stands out from their median (``has_signal``), this sampler
draws at random instead; from then on the model decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from service.tuning._plateau import best_so_far, has_signal, minimizes

__all__ = ["SignalGuardedSampler", "finished_scores"]


def finished_scores(study: optuna.Study) -> list[float]:
    """The score of every finished trial, as a model-based sampler sees them: a completed
    trial's value, a pruned one's best reported score."""
    minimize = minimizes(study)
    scores = []
    for trial in study.get_trials(deepcopy=False,
                                  states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if trial.state == TrialState.COMPLETE and trial.values:
            scores.append(float(trial.values[0]))
        elif trial.intermediate_values:
            score = best_so_far(trial.intermediate_values, minimize=minimize)
            if score is not None:
                scores.append(score)
    return scores


class SignalGuardedSampler(BaseSampler):
    """Delegates each trial to ``model`` when the study has signal, else to ``explore``."""

    def __init__(self, model: BaseSampler, explore: BaseSampler, *,
                 min_improvement: float) -> None:
        self.model = model
        self.explore = explore
        self.min_improvement = min_improvement
        self._active: BaseSampler = model

    def signal(self, study: optuna.Study) -> bool:
        if len(study.directions) > 1:
            return True  # the guard is for one objective; Pareto samplers decide alone
        return has_signal(finished_scores(study), minimize=minimizes(study),
                          min_improvement=self.min_improvement)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._active = self.model if self.signal(study) else self.explore
        self._active.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._active.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._active.sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._active.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._active.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.model.reseed_rng()
        self.explore.reseed_rng()
