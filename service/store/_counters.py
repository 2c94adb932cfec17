"""Keep a study's counters row (``rnntune_study_counters``) and its retry links in step with
its trials, inside the transaction that moves a trial.

Each function is the delta of one event, applied with the database as it is just after the
event and before the next one of the same transaction: a trial created, a trial moved from one
state to another, a trial marked for re-run. Each writes the study's counters row before it
reads or writes anything else of ours, so moves of one study serialise on that row's lock
(SQLite: the database's), and so does a repair (``_recount.repair``), which locks the row
before it recounts: a move either commits before the recount (and is counted by it) or
applies its delta after the repair, on top of it. A study without a counters row (created
before the table existed) is left alone here; ``initialize`` and the read path repair it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from optuna.trial import TrialState
from sqlalchemy import Connection, text

from service.store._counts import REQUEUE_ATTR
from service.store._tables import retry_links, study_counters

__all__ = ["STATE_FIELDS", "created", "lock", "marked", "moved"]

STATE_FIELDS = {TrialState.RUNNING: "running", TrialState.WAITING: "waiting",
                TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned",
                TrialState.FAIL: "fail"}

_C = study_counters.name
_L = retry_links.name


def created(
    conn: Connection,
    *,
    study_id: int,
    trial_id: int,
    number: int,
    state: TrialState,
    values: Sequence[float] | None,
    system_attrs: Mapping[str, Any],
) -> None:
    """A trial was created (asked for: RUNNING; queued or re-queued: WAITING; or added as it
    is) with these system attributes, already written."""
    _bump(conn, study_id, {STATE_FIELDS[state]: 1})
    if state == TrialState.COMPLETE:
        _offer_best(conn, study_id, trial_id, number, values)
    history = [int(n) for n in system_attrs.get("retry_history") or []]
    _link_all(conn, study_id, history)
    if history:
        conn.execute(text(f"UPDATE {_L} SET retry_number = :retry "
                          "WHERE study_id = :study AND number = :number"),
                     {"retry": number, "study": study_id, "number": history[-1]})
    if system_attrs.get(REQUEUE_ATTR):
        _link_all(conn, study_id, [number])


def moved(
    conn: Connection,
    *,
    study_id: int,
    trial_id: int,
    number: int,
    old: TrialState,
    new: TrialState,
    values: Sequence[float] | None = None,
) -> None:
    """A trial moved from ``old`` to ``new`` (its conditional UPDATE changed one row)."""
    value = _finite_first(values) if new == TrialState.COMPLETE else None
    # The count and the offer of the best in one statement: every move of the study waits
    # for this row's lock, held from here until the commit.
    _bump(conn, study_id, {STATE_FIELDS[old]: -1, STATE_FIELDS[new]: 1},
          best=None if value is None else (trial_id, number, value))
    if new == TrialState.FAIL and _is_linked(conn, study_id, number):
        _bump(conn, study_id, {"retried": 1})


def marked(conn: Connection, *, study_id: int, number: int) -> None:
    """A trial was marked for re-run (``REQUEUE_ATTR``), usually while still running."""
    lock(conn, study_id)
    _link_all(conn, study_id, [number])


def lock(conn: Connection, study_id: int) -> None:
    """Write-lock the study's counters row (on SQLite, the database) until the commit."""
    _bump(conn, study_id, {})


def _link_all(conn: Connection, study_id: int, numbers: Iterable[int]) -> None:
    """Link these trials as re-run; each one newly linked while FAIL is newly retried."""
    for number in dict.fromkeys(numbers):
        inserted = conn.execute(
            text(f"INSERT INTO {_L} (study_id, number, retry_number) "
                 "VALUES (:study, :number, NULL) ON CONFLICT (study_id, number) DO NOTHING"),
            {"study": study_id, "number": number}).rowcount
        if inserted != 1:
            continue
        state = conn.execute(
            text("SELECT state FROM trials WHERE study_id = :study AND number = :number"),
            {"study": study_id, "number": number}).scalar()
        if state is not None and str(state).rsplit(".", 1)[-1] == "FAIL":
            _bump(conn, study_id, {"retried": 1})


def _is_linked(conn: Connection, study_id: int, number: int) -> bool:
    return conn.execute(
        text(f"SELECT 1 FROM {_L} WHERE study_id = :study AND number = :number"),
        {"study": study_id, "number": number}).first() is not None


def _finite_first(values: Sequence[float] | None) -> float | None:
    if not values or values[0] is None or not math.isfinite(float(values[0])):
        return None
    return float(values[0])


# This complete trial beats the kept best (the row as it is when written: in an UPDATE every
# column on the right is the row's value before the statement).
_BETTER = ("(best_value IS NULL OR (maximize AND :value > best_value) "
           "OR (NOT maximize AND :value < best_value) "
           "OR (:value = best_value AND :number < best_number))")


def _offer_best(
    conn: Connection, study_id: int, trial_id: int, number: int,
    values: Sequence[float] | None,
) -> None:
    """Make this complete trial the best if its first value beats the kept one."""
    value = _finite_first(values)
    if value is not None:
        _bump(conn, study_id, {}, best=(trial_id, number, value))


def _bump(conn: Connection, study_id: int, deltas: Mapping[str, int], *,
          best: tuple[int, int, float] | None = None) -> None:
    """Add ``deltas`` to the counters and, with ``best`` (trial id, number, value), keep that
    trial as the best if it beats the kept one."""
    # ``x = x + d`` in one statement: concurrent moves of one study add up exactly.
    sets = [f"{field} = {field} + :{field}" for field in deltas]
    params: dict[str, Any] = {"study": study_id, **deltas}
    if best is not None:
        sets += [f"{column} = CASE WHEN {_BETTER} THEN :{param} ELSE {column} END"
                 for column, param in (("best_value", "value"), ("best_number", "number"),
                                       ("best_trial_id", "trial"))]
        params.update(trial=best[0], number=best[1], value=best[2])
    conn.execute(text(f"UPDATE {_C} SET {', '.join(sets) or 'study_id = study_id'} "
                      "WHERE study_id = :study"), params)
