"""Trial counting rules shared by the budget, the API and the status refresh."""

from __future__ import annotations

import math
from collections.abc import Sequence

from optuna.trial import FrozenTrial, TrialState

from service.schemas import TrialCounts

__all__ = ["REQUEUE_ATTR", "count_trials", "primary_value", "retried_numbers", "retry_of"]

# System attribute of a trial marked, before it failed, to be re-run with the same parameters
# (a stale trial with retries left, or one handed back on a graceful stop).
REQUEUE_ATTR = "requeue"


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
