"""Selection that survives seeds: the best trial is often a lucky seed.

Before the final evaluation declares a study's best, the top ``k`` trials by validation are
re-trained with every evaluation seed but the study's (whose value is the trial's own), and
the one with the best seed mean of the validation metric wins. With several validation splits
(``evaluation.validation``: a small validation set ranks candidates by luck too) every seed is
trained on every split and the mean over all of them wins. The re-runs are part of the
study's budget: :func:`selection_plan` keeps ``k x (seeds x splits - 1)`` of
``budget.n_trials`` for them, so the search itself runs the rest. The winner's re-runs on
the study's own split are its final evaluation's runs for those seeds (the same seed
reproduces the same run), so they are not trained twice; with ``evaluation.ensemble`` their
models are kept too, as members of the seed ensemble.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from optuna.trial import FrozenTrial, TrialState

from service.models import SequenceModel
from service.schemas import EvaluationRun, SelectionCandidate, SelectionPublic
from service.specs import search_trials, selection_plan
from service.tasks import validation_folds
from service.trial_attrs import ATTR_PRUNE_REASON
from service.tuning._evaluate import best_hparams, train_and_test
from service.tuning._objective import load_task_data
from service.tuning._plateau import best_so_far
from service.tuning._resolve import ResolvedStudy

__all__ = ["Selection", "StoppedChoice", "best_stopped_trial", "search_trials", "select_best",
           "selection_plan"]

@dataclass
class Selection:
    """The outcome: the winning trial, its runs by seed (and, for an ensemble, their models),
    and what to publish."""

    winner: FrozenTrial
    runs: dict[int, EvaluationRun]
    public: SelectionPublic | None
    models: dict[int, SequenceModel] = field(default_factory=dict)


def top_trials(trials: Sequence[FrozenTrial], *, k: int, maximize: bool) -> list[FrozenTrial]:
    """The ``k`` best complete trials, one per distinct configuration (a warm-started or
    retried duplicate would otherwise take a second place)."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values
                and math.isfinite(t.values[0])]
    complete.sort(key=lambda t: t.values[0], reverse=maximize)
    chosen: list[FrozenTrial] = []
    seen: set[str] = set()
    for trial in complete:
        key = repr(sorted(trial.params.items()))
        if key not in seen:
            seen.add(key)
            chosen.append(trial)
        if len(chosen) == k:
            break
    return chosen


@dataclass(frozen=True)
class StoppedChoice:
    """A stopped trial chosen when none completed: its best validation value and epoch."""

    trial: FrozenTrial
    epoch: int
    value: float

    def note(self, metric: str) -> str:
        return (f"no trial completed: trial {self.trial.number}, stopped by the pruner, had "
                f"the best {metric} of the stopped trials ({self.value:.4g} at epoch "
                f"{self.epoch}); its configuration was trained for the full epochs")


def best_stopped_trial(trials: Sequence[FrozenTrial], *, maximize: bool) -> StoppedChoice | None:
    """The trial the pruner stopped at the best validation value, for a study in which no
    trial completed: a model of its most promising configuration is better than none. A
    diverged trial is no candidate (its configuration is unstable, whatever it scored first)."""
    choices = []
    for trial in trials:
        if (trial.state != TrialState.PRUNED
                or trial.user_attrs.get(ATTR_PRUNE_REASON) == "diverged"):
            continue
        value = best_so_far(trial.intermediate_values, minimize=not maximize)
        if value is not None and math.isfinite(value):
            epoch = min(step for step, v in trial.intermediate_values.items() if v == value)
            choices.append(StoppedChoice(trial=trial, epoch=epoch, value=value))
    if not choices:
        return None
    # On a tie the trial the pruner kept longer wins: it judged it promising for longer.
    if maximize:
        return max(choices, key=lambda c: (c.value, c.trial.last_step or 0))
    return min(choices, key=lambda c: (c.value, -(c.trial.last_step or 0)))


def select_best(
    resolved: ResolvedStudy,
    trials: Sequence[FrozenTrial],
    *,
    seeds: Sequence[int],
    device: torch.device,
    should_interrupt: Callable[[], bool] | None = None,
    on_run: Callable[[int, EvaluationRun], None] | None = None,
) -> Selection | None:
    """Choose the study's best on the mean of the validation metric over the seeds (and the
    validation splits of ``evaluation.validation``); None when interrupted. With the step off
    (or one candidate) the best single trial wins unchanged."""
    maximize = resolved.direction == "maximize"
    k, _ = selection_plan(resolved.spec)
    candidates = top_trials(trials, k=max(k, 1), maximize=maximize)
    if not candidates:
        raise ValueError("no trial completed")
    if k == 0 or len(candidates) < 2:
        return Selection(winner=candidates[0], runs={}, public=None)
    metric = resolved.metric_key
    worst = -math.inf if maximize else math.inf
    n_splits = resolved.spec.evaluation.validation.n_splits
    # values[trial][seed index][split]: the trial's own value is the first seed's first split.
    values: dict[int, list[list[float | None]]] = {}
    runs: dict[int, dict[int, EvaluationRun]] = {}
    models: dict[int, dict[int, SequenceModel]] = {}
    spent = 0
    for trial in candidates:
        hp = best_hparams(resolved, dict(trial.params))
        folds = validation_folds(load_task_data(resolved, device, hp), splits=n_splits,
                                 seed=resolved.spec.seed)
        values[trial.number] = []
        runs[trial.number] = {}
        models[trial.number] = {}
        for index, seed in enumerate(seeds):
            row: list[float | None] = []
            for split, fold in enumerate(folds):
                if index == 0 and split == 0:
                    row.append(float(trial.values[0]))
                    continue
                # Only the study's own split gives runs the final evaluation can reuse.
                keep = split == 0 and resolved.spec.evaluation.ensemble
                run = train_and_test(resolved, hp, seed=seed, device=device,
                                     should_interrupt=should_interrupt, data=fold,
                                     on_model=_keeper(models[trial.number], seed)
                                     if keep else None)
                if run is None:
                    return None
                spent += 1
                if split == 0:
                    runs[trial.number][seed] = run
                row.append(run.val.get(metric))
                if on_run is not None:
                    on_run(trial.number, run)
            values[trial.number].append(row)

    def score(number: int) -> float:
        # A diverged run counts as the worst value: a configuration that diverges is not robust.
        seen = [v if v is not None and math.isfinite(v) else worst
                for row in values[number] for v in row]
        return statistics.fmean(seen)

    order = sorted(candidates, key=lambda t: score(t.number), reverse=maximize)
    winner = order[0]
    public = SelectionPublic(
        metric=resolved.metric, seeds=list(seeds),
        candidates=[_candidate(t, values[t.number], n_splits) for t in candidates],
        winner=winner.number,
        reason=_reason(resolved.metric, candidates, order, score, n_splits),
        runs=spent, validation=_validation_name(resolved, n_splits),
    )
    return Selection(winner=winner, runs=runs[winner.number], public=public,
                     models=models[winner.number])


def _candidate(trial: FrozenTrial, grid: list[list[float | None]],
               n_splits: int) -> SelectionCandidate:
    every = [v for row in grid for v in row]
    per_seed = [row[0] if n_splits == 1 else _spread(row)["mean"] for row in grid]
    return SelectionCandidate(trial=trial.number, params=dict(trial.params), values=per_seed,
                              splits=grid if n_splits > 1 else None, **_spread(every))


def _validation_name(resolved: ResolvedStudy, n_splits: int) -> str:
    if n_splits == 1:
        return "holdout"
    kind = resolved.task.kind
    scheme = {"forecasting": "rolling origin", "classification": "stratified re-splits"}.get(
        kind, "random re-splits")
    return f"{scheme}, {n_splits} splits"


def _keeper(into: dict[int, SequenceModel], seed: int) -> Callable[[SequenceModel, Any], None]:
    def keep(model: SequenceModel, _data: Any) -> None:
        into[seed] = model
    return keep


def _spread(values: list[float | None]) -> dict[str, Any]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return {"mean": statistics.fmean(finite) if finite else None,
            "std": statistics.stdev(finite) if len(finite) > 1 else None}


def _reason(metric: str, candidates: list[FrozenTrial], order: list[FrozenTrial],
            score: Callable[[int], float], n_splits: int) -> str:
    winner, runner_up, single = order[0], order[1], candidates[0]
    n = len(candidates)
    over = "the seeds" if n_splits == 1 else f"the seeds and {n_splits} validation splits"
    text = (f"trial {winner.number} has the best {metric} mean over {over} among the top "
            f"{n} trials: {score(winner.number):.4g} against {score(runner_up.number):.4g} "
            f"for trial {runner_up.number}")
    if winner.number == single.number:
        return text + "; it was also the best single run"
    return (text + f"; trial {single.number}, the best single run "
            f"({single.values[0]:.4g}), averages {score(single.number):.4g}")
