"""The full recount of a study's counters from Optuna's tables, and the repair that writes it.

The counters row is kept by every move the service makes (``_counters``); this reads every
trial of the study instead, so it is for the places where that is the point: filling the
rows of studies that existed before the table, a study moved by something other than the
service (Optuna's own API on the same database), and the tests that check the kept row
against the truth.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text

from service.store._counters import lock
from service.store._counts import REQUEUE_ATTR, TrialCounts
from service.store._tables import retry_links, study_counters

__all__ = ["Counted", "missing_studies", "recount", "repair"]

_STATE_FIELDS = {"RUNNING": "running", "WAITING": "waiting", "COMPLETE": "complete",
                 "PRUNED": "pruned", "FAIL": "fail"}
_COUNT_FIELDS = ("running", "waiting", "complete", "pruned", "fail", "retried")


@dataclass
class Counted:
    """What a study's counters row and retry links hold."""

    maximize: bool
    counts: TrialCounts = field(default_factory=TrialCounts)
    best_trial_id: int | None = None
    best_number: int | None = None
    best_value: float | None = None
    # retried number -> its latest retry's number (None while only marked for re-run)
    links: dict[int, int | None] = field(default_factory=dict)


def maximizes(conn: Connection, study_id: int) -> bool:
    """Whether the study's first objective is maximised (Optuna's ``study_directions``)."""
    direction = conn.execute(text(
        "SELECT direction FROM study_directions WHERE study_id = :study AND objective = 0"),
        {"study": study_id}).scalar()
    return str(direction).rsplit(".", 1)[-1] == "MAXIMIZE"


def recount(conn: Connection, study_id: int) -> Counted:
    """Count every trial of the study: the same rules as ``count_trials`` and ``best_trial``."""
    counted = Counted(maximize=maximizes(conn, study_id))
    counts = counted.counts
    values = {"study": study_id}
    for state, n in conn.execute(text(
            "SELECT state, count(*) FROM trials WHERE study_id = :study GROUP BY state"),
            values):
        name = _STATE_FIELDS.get(str(state).rsplit(".", 1)[-1])
        if name is not None:
            setattr(counts, name, getattr(counts, name) + int(n))
    # A retry names every failure of its lineage; a marked failure is about to be re-run.
    latest: dict[int, int] = {}
    for number, key, value_json in conn.execute(text(
        "SELECT t.number, a.key, a.value_json FROM trial_system_attributes a "
        "JOIN trials t ON t.trial_id = a.trial_id "
        f"WHERE a.key IN ('retry_history', '{REQUEUE_ATTR}') AND t.study_id = :study"),
            values):
        if key == REQUEUE_ATTR:
            if json.loads(value_json):
                counted.links.setdefault(int(number), None)
            continue
        history = [int(n) for n in json.loads(value_json) or []]
        for retried in history:
            counted.links.setdefault(retried, None)
        if history:
            latest[history[-1]] = max(latest.get(history[-1], -1), int(number))
    counted.links.update(latest)
    if counted.links:
        failed = set(conn.execute(text(
            "SELECT number FROM trials WHERE study_id = :study AND state = 'FAIL'"),
            values).scalars())
        counts.retried = len(failed & set(counted.links))
    counts.finished = counts.complete + counts.pruned + counts.fail - counts.retried
    order = "DESC" if counted.maximize else "ASC"
    # Infinite values are stored as NULL (their type beside), so they drop out here.
    best = conn.execute(text(
        "SELECT t.trial_id, t.number, v.value FROM trials t "
        "JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0 "
        "WHERE t.study_id = :study AND t.state = 'COMPLETE' AND v.value IS NOT NULL "
        f"ORDER BY v.value {order}, t.number LIMIT 1"), values).first()
    if best is not None and math.isfinite(float(best[2])):
        counted.best_trial_id, counted.best_number, counted.best_value = \
            int(best[0]), int(best[1]), float(best[2])
    return counted


def kept(conn: Connection, study_id: int) -> Counted | None:
    """The study's counters row and links as kept; None when it has no row."""
    row = conn.execute(text(f"SELECT * FROM {study_counters.name} WHERE study_id = :study"),
                       {"study": study_id}).mappings().first()
    if row is None:
        return None
    counted = Counted(maximize=bool(row["maximize"]), best_trial_id=row["best_trial_id"],
                      best_number=row["best_number"], best_value=row["best_value"])
    for name in _COUNT_FIELDS:
        setattr(counted.counts, name, int(row[name]))
    c = counted.counts
    c.finished = c.complete + c.pruned + c.fail - c.retried
    counted.links = {int(n): None if r is None else int(r) for n, r in conn.execute(text(
        f"SELECT number, retry_number FROM {retry_links.name} WHERE study_id = :study"),
        {"study": study_id})}
    return counted


def repair(engine: Engine, study_id: int) -> bool:
    """Recount the study and overwrite its counters row and links with the truth; True when
    they were off (or missing). Exact while the service's own moves go on: the row is locked
    before the recount, so every move commits either before it or after it (see
    ``_counters``)."""
    with engine.begin() as conn:
        # The row must exist before the recount: a move meanwhile must wait on it.
        conn.execute(text(
            f"INSERT INTO {study_counters.name} (study_id, maximize, running, waiting, "
            "complete, pruned, fail, retried) VALUES (:study, :maximize, 0, 0, 0, 0, 0, 0) "
            "ON CONFLICT (study_id) DO NOTHING"),
            {"study": study_id, "maximize": maximizes(conn, study_id)})
    with engine.begin() as conn:
        lock(conn, study_id)  # every move of the study now waits for this repair
        truth = recount(conn, study_id)
        if kept(conn, study_id) == truth:
            return False
        c = truth.counts
        conn.execute(text(
            f"UPDATE {study_counters.name} SET maximize = :maximize, running = :running, "
            "waiting = :waiting, complete = :complete, pruned = :pruned, fail = :fail, "
            "retried = :retried, best_value = :best_value, best_number = :best_number, "
            "best_trial_id = :best_trial_id WHERE study_id = :study"),
            {"study": study_id, "maximize": truth.maximize, "running": c.running,
             "waiting": c.waiting, "complete": c.complete, "pruned": c.pruned, "fail": c.fail,
             "retried": c.retried, "best_value": truth.best_value,
             "best_number": truth.best_number, "best_trial_id": truth.best_trial_id})
        conn.execute(text(f"DELETE FROM {retry_links.name} WHERE study_id = :study"),
                     {"study": study_id})
        if truth.links:
            conn.execute(text(
                f"INSERT INTO {retry_links.name} (study_id, number, retry_number) "
                "VALUES (:study, :number, :retry)"),
                [{"study": study_id, "number": n, "retry": r} for n, r in truth.links.items()])
    return True


def missing_studies(conn: Connection) -> list[int]:
    """Service studies without a counters row (made before the table existed)."""
    return [int(i) for i in conn.execute(text(
        f"SELECT s.id FROM rnntune_studies s LEFT JOIN {study_counters.name} c "
        "ON c.study_id = s.id WHERE c.study_id IS NULL ORDER BY s.id")).scalars()]
