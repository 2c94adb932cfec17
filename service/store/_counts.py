"""Trial counting rules shared by the budget, the API and the status refresh."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from service.store._records import StudyRecord

__all__ = [
    "REQUEUE_ATTR",
    "TrialCounts",
    "best_trial",
    "count_trials",
    "primary_value",
    "retried_numbers",
    "retry_of",
]

# System attribute of a trial marked, before it failed, to be re-run with the same parameters
# (a stale trial with retries left, or one handed back on a graceful stop).
REQUEUE_ATTR = "requeue"


@dataclass
class TrialCounts:
    """Trials by state; ``finished`` is what the budget counts: complete, pruned and failed
    trials, less the failures a retry re-runs (``retried``)."""

    running: int = 0
    waiting: int = 0
    complete: int = 0
    pruned: int = 0
    fail: int = 0
    retried: int = 0
    finished: int = 0


def retried_numbers(trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of failed trials that a later trial re-runs (or is about to) with the same
    parameters: the budget does not count them."""
    numbers: set[int] = set()
    for trial in trials:
        numbers.update(trial.system_attrs.get("retry_history", []))
        if trial.system_attrs.get(REQUEUE_ATTR):
            numbers.add(trial.number)
    return numbers


def retry_of(trial: FrozenTrial) -> int | None:
    """The trial this one re-runs, if it is a retry."""
    history = trial.system_attrs.get("retry_history") or []
    return int(history[-1]) if history else None


def count_trials(trials: Sequence[FrozenTrial]) -> TrialCounts:
    """Counts by state; ``finished`` is what the budget counts (retried failures excluded)."""
    retried = retried_numbers(trials)
    counts = TrialCounts()
    for trial in trials:
        if trial.state == TrialState.RUNNING:
            counts.running += 1
        elif trial.state == TrialState.WAITING:
            counts.waiting += 1
        elif trial.state == TrialState.COMPLETE:
            counts.complete += 1
        elif trial.state == TrialState.PRUNED:
            counts.pruned += 1
        elif trial.state == TrialState.FAIL:
            counts.fail += 1
            if trial.number in retried:
                counts.retried += 1
    counts.finished = counts.complete + counts.pruned + counts.fail - counts.retried
    return counts


def primary_value(trial: FrozenTrial) -> float | None:
    """The first objective's value (the only one in a single-objective study), if finite."""
    if not trial.values:
        return None
    value = float(trial.values[0])
    return value if math.isfinite(value) else None


def best_trial(record: StudyRecord, trials: Sequence[FrozenTrial]) -> FrozenTrial | None:
    """The complete trial with the best finite first objective, if any."""
    complete = [
        t for t in trials
        if t.state == TrialState.COMPLETE and primary_value(t) is not None
    ]
    if not complete:
        return None
    maximize = record.spec["objective"]["direction"] == "maximize"
    chooser = max if maximize else min
    return chooser(complete, key=lambda t: primary_value(t) or 0.0)
