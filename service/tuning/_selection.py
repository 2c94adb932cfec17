"""Selection that survives seeds: the best trial is often a lucky seed.

Before the final evaluation declares a study's best, the top ``k`` trials by validation are
re-trained with every evaluation seed but the study's (whose value is the trial's own), and
the one with the best seed mean of the validation metric wins. The re-runs are part of the
study's budget: :func:`selection_plan` keeps ``k x (seeds - 1)`` of ``budget.n_trials`` for
them, so the search itself runs the rest. The winner's re-runs are its final evaluation's runs
for those seeds (the same seed reproduces the same run), so they are not trained twice; with
``evaluation.ensemble`` their models are kept too, as members of the seed ensemble.
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
from service.tuning._evaluate import best_hparams, train_and_test
from service.tuning._resolve import ResolvedStudy

__all__ = ["Selection", "search_trials", "select_best", "selection_plan"]

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


def select_best(
    resolved: ResolvedStudy,
    trials: Sequence[FrozenTrial],
    *,
    seeds: Sequence[int],
    device: torch.device,
    should_interrupt: Callable[[], bool] | None = None,
    on_run: Callable[[int, EvaluationRun], None] | None = None,
) -> Selection | None:
    """Choose the study's best on the seed mean of the validation metric; None when
    interrupted. With the step off (or one candidate) the best single trial wins unchanged."""
    maximize = resolved.direction == "maximize"
    k, _ = selection_plan(resolved.spec)
    candidates = top_trials(trials, k=max(k, 1), maximize=maximize)
    if not candidates:
        raise ValueError("no trial completed")
    if k == 0 or len(candidates) < 2:
        return Selection(winner=candidates[0], runs={}, public=None)
    metric = resolved.metric_key
    worst = -math.inf if maximize else math.inf
    values: dict[int, list[float | None]] = {}
    runs: dict[int, dict[int, EvaluationRun]] = {}
    models: dict[int, dict[int, SequenceModel]] = {}
    for trial in candidates:
        hp = best_hparams(resolved, dict(trial.params))
        values[trial.number] = [float(trial.values[0])]
        runs[trial.number] = {}
        models[trial.number] = {}
        for seed in seeds[1:]:
            run = train_and_test(resolved, hp, seed=seed, device=device,
                                 should_interrupt=should_interrupt,
                                 on_model=_keeper(models[trial.number], seed)
                                 if resolved.spec.evaluation.ensemble else None)
            if run is None:
                return None
            runs[trial.number][seed] = run
            values[trial.number].append(run.val.get(metric))
            if on_run is not None:
                on_run(trial.number, run)

    def score(number: int) -> float:
        # A diverged seed counts as the worst value: a configuration that diverges is not robust.
        seen = [v if v is not None and math.isfinite(v) else worst for v in values[number]]
        return statistics.fmean(seen)

    order = sorted(candidates, key=lambda t: score(t.number), reverse=maximize)
    winner = order[0]
    public = SelectionPublic(
        metric=resolved.metric, seeds=list(seeds),
        candidates=[SelectionCandidate(trial=t.number, params=dict(t.params),
                                       values=values[t.number], **_spread(values[t.number]))
                    for t in candidates],
        winner=winner.number, reason=_reason(resolved.metric, candidates, order, score),
        runs=sum(len(r) for r in runs.values()),
    )
    return Selection(winner=winner, runs=runs[winner.number], public=public,
                     models=models[winner.number])


def _keeper(into: dict[int, SequenceModel], seed: int) -> Callable[[SequenceModel, Any], None]:
    def keep(model: SequenceModel, _data: Any) -> None:
        into[seed] = model
    return keep


def _spread(values: list[float | None]) -> dict[str, Any]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return {"mean": statistics.fmean(finite) if finite else None,
            "std": statistics.stdev(finite) if len(finite) > 1 else None}


def _reason(metric: str, candidates: list[FrozenTrial], order: list[FrozenTrial],
            score: Callable[[int], float]) -> str:
    winner, runner_up, single = order[0], order[1], candidates[0]
    n = len(candidates)
    text = (f"trial {winner.number} has the best {metric} mean over the seeds among the top "
            f"{n} trials: {score(winner.number):.4g} against {score(runner_up.number):.4g} "
            f"for trial {runner_up.number}")
    if winner.number == single.number:
        return text + "; it was also the best single run"
    return (text + f"; trial {single.number}, the best single run "
            f"({single.values[0]:.4g}), averages {score(single.number):.4g}")
