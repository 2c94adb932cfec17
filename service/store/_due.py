"""Which active studies the sweep has anything to do for, each found by one query over the
service's rows (counters, claims), so a sweep costs little when nothing is off however many
trials the studies have."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from service.store._dbtime import ago
from service.store._tables import claims, studies, study_counters

__all__ = ["due_studies", "slots_off"]

_FINISHED = "(c.complete + c.pruned + c.fail - c.retried)"
_ACTIVE = "s.status IN ('queued', 'running')"


def slots_off(conn: Connection, grace: dict[str, Any]) -> list[int]:
    """Active studies whose slot counters disagree with their trials and live claims (a
    worker died between claim and trial, or between trial and its end), or that hold a
    claim older than the grace period (``Claims.repair_slots`` decides what to do)."""
    return [int(i) for i in conn.execute(text(
        f"SELECT s.id FROM {studies.name} s JOIN {study_counters.name} c ON c.study_id = s.id "
        f"LEFT JOIN (SELECT study_id, count(*) AS n FROM {claims.name} "
        f"WHERE claimed_at >= {ago(conn)} GROUP BY study_id) p ON p.study_id = s.id "
        f"WHERE {_ACTIVE} AND (s.claimed <> {_FINISHED} + c.running + COALESCE(p.n, 0) "
        "OR s.in_flight <> c.running + COALESCE(p.n, 0)) ORDER BY s.id"), grace).scalars()]


def due_studies(conn: Connection, now: datetime) -> list[int]:
    """Active studies that ``refresh_status`` would complete: budget spent, or deadline
    passed with nothing running."""
    return [int(i) for i in conn.execute(text(
        f"SELECT s.id FROM {studies.name} s JOIN {study_counters.name} c ON c.study_id = s.id "
        f"WHERE {_ACTIVE} AND ({_FINISHED} >= s.n_trials "
        "OR (s.deadline IS NOT NULL AND s.deadline <= :now AND c.running = 0)) ORDER BY s.id"),
        {"now": now}).scalars()]
