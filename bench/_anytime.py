"""One search run as a record of its trials, and what it reached by when.

Every setup of ``search_efficiency.py`` (the service, a plain Optuna script, Ray Tune, the
one-epoch baseline) ends as the same ``RunRecord``: each trial's per-epoch validation values,
when each epoch ended and when the trial held a worker, in seconds from the run's start. From
it, uniformly for all setups: the best score so far after each epoch, and the compute (epochs
and worker-seconds) the whole search had spent by then, counted up to the run's budget.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrialRecord:
    """One trial: its parameters, how it ended, its per-epoch values and their end times.

    ``busy``: the intervals (seconds from the run's start) during which the trial held a
    worker; one for most setups, two for a configuration the one-epoch baseline continued.
    ``state``: complete, pruned (or stopped by a scheduler), failed, or running (the budget
    ended first).
    """

    params: dict[str, Any]
    state: str
    values: list[float]
    ends: list[float]
    busy: list[tuple[float, float]]


@dataclass
class RunRecord:
    """One run of one setup on one task with one seed, within ``budget_s`` of wall time."""

    task: str
    setup: str
    seed: int
    config: dict[str, Any]
    direction: str
    budget_s: float
    wall_s: float
    trials: list[TrialRecord]
    timing: str  # "measured" or "interpolated": where the epochs' end times come from
    load: tuple[float, float] = (math.nan, math.nan)
    foreign: float = math.nan
    facts: str = ""
    notes: list[str] = field(default_factory=list)

    # -- saving ---------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        # NaN (a diverged epoch) is written as Python's json writes and reads it back.
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(path)  # a run interrupted while saving leaves no half file behind

    @classmethod
    def read(cls, path: Path) -> RunRecord:
        raw = json.loads(path.read_text())
        raw["trials"] = [TrialRecord(**{**t, "busy": [tuple(b) for b in t["busy"]]})
                         for t in raw["trials"]]
        raw["load"] = tuple(raw["load"])
        return cls(**raw)

    # -- what it reached by when -------------------------------------------------------------

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b

    def reached(self, value: float, target: float) -> bool:
        return value >= target if self.direction == "maximize" else value <= target

    def events(self) -> list[tuple[float, float]]:
        """(end time, value) of every epoch with a finite value that ended within the
        budget, in time order."""
        out = [(end, value) for t in self.trials for value, end in zip(t.values, t.ends,
                                                                         strict=False)
               if math.isfinite(value) and end <= self.budget_s]
        return sorted(out)

    def epochs_at(self, time_s: float) -> int:
        """Epochs all trials together had finished at ``time_s`` (at most the budget)."""
        cut = min(time_s, self.budget_s)
        return sum(1 for t in self.trials for end in t.ends if end <= cut)

    def worker_seconds_at(self, time_s: float) -> float:
        """Seconds of workers held by trials up to ``time_s`` (at most the budget)."""
        cut = min(time_s, self.budget_s)
        # A process may start its first trial a hair before the run's clock starts.
        return sum(max(0.0, min(end, cut) - max(start, 0.0)) for t in self.trials
                   for start, end in t.busy)

    def progress(self) -> list[tuple[float, float, int, float]]:
        """(time, worker-seconds, epochs, best so far) after each epoch that improved the
        best score, in time order."""
        out: list[tuple[float, float, int, float]] = []
        best = math.nan
        for end, value in self.events():
            if math.isnan(best) or self.better(value, best):
                best = value
                out.append((end, self.worker_seconds_at(end), self.epochs_at(end), best))
        return out

    def to_reach(self, target: float) -> tuple[float, float] | None:
        """(epochs, worker-seconds) the search had spent when its best score first reached
        ``target``; None when it did not within the budget."""
        for _, seconds, epochs, best in self.progress():
            if self.reached(best, target):
                return float(epochs), seconds
        return None

    def spent(self) -> tuple[float, float]:
        """(epochs, worker-seconds) of the whole run, within its budget."""
        return float(self.epochs_at(self.budget_s)), self.worker_seconds_at(self.budget_s)

    def best(self) -> float:
        events = self.events()
        if not events:
            return math.nan
        values = [v for _, v in events]
        return max(values) if self.direction == "maximize" else min(values)

    def count(self, state: str) -> int:
        return sum(1 for t in self.trials if t.state == state)


def interpolated_ends(start: float, end: float, n_epochs: int, *, cut: bool) -> list[float]:
    """End times of ``n_epochs`` epochs of a trial that ran from ``start`` to ``end``, as if
    its epochs took equal time. ``cut``: the budget ended the trial inside an epoch, counted
    as half done."""
    if n_epochs <= 0:
        return []
    span = max(0.0, end - start) / (n_epochs + (0.5 if cut else 0.0))
    return [start + span * (k + 1) for k in range(n_epochs)]
