"""A model-based sampler that explores at random while the finished trials carry no signal.

TPE fits its good/bad split to whatever scores it has. When every finished trial sits on one
plateau (all within noise of each other), that split is noise, and TPE concentrates on the
corner that happened to score a hair better, often the one that stays on the plateau longest.
Until the best finished score stands out from their median (``has_signal``), this sampler
draws at random instead; from then on the model decides, except for a ``random_fraction`` of
trials that are still drawn at random (as BOHB draws a third of its configurations). A model
fitted to a few early scores can lock onto a region that is merely less bad, while the
configuration that solves the task lies where it never looks again; random draws interleaved
with the model's keep every region reachable, and under a pruner they cost a few epochs each.
"""

from __future__ import annotations

import random
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
    """Delegates each trial to ``model`` when the study has signal, else to ``explore``;
    a ``random_fraction`` of the trials goes to ``explore`` regardless.

    ``guard``: whether a study without signal is explored (off, only the interleaved random
    draws remain). ``seed`` makes the choice of interleaved trials reproducible: workers build
    a sampler per trial with a per-trial seed, so the choice is a fixed coin flip per trial.
    """

    def __init__(self, model: BaseSampler, explore: BaseSampler, *,
                 min_improvement: float, random_fraction: float = 0.0, guard: bool = True,
                 seed: int | None = None) -> None:
        if not 0.0 <= random_fraction < 1.0:
            raise ValueError(f"random_fraction must lie in [0, 1), got {random_fraction!r}")
        self.model = model
        self.explore = explore
        self.min_improvement = min_improvement
        self.random_fraction = random_fraction
        self.guard = guard
        self._coin = random.Random(seed)
        self._active: BaseSampler = model

    def signal(self, study: optuna.Study) -> bool:
        if len(study.directions) > 1:
            return True  # the guard is for one objective; Pareto samplers decide alone
        return has_signal(finished_scores(study), minimize=minimizes(study),
                          min_improvement=self.min_improvement)

    def interleaved(self) -> bool:
        """Whether this trial is one of the random draws interleaved with the model's."""
        return self.random_fraction > 0.0 and self._coin.random() < self.random_fraction

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        # The coin is flipped for every trial, so whether trial n is interleaved does not
        # depend on the study's state.
        interleaved = self.interleaved()
        explore = interleaved or (self.guard and not self.signal(study))
        self._active = self.explore if explore else self.model
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
