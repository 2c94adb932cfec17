"""Trial counts and best trial of many studies, read from their counters rows.

The rows are kept as trials move (``_counters``), so a summary costs one row per study and
the best trial's parameters, however many trials a study has. A study without a row (made
before the table existed) is recounted and repaired on the way (``_recount``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from optuna.distributions import json_to_distribution
from sqlalchemy import Engine, TextClause, bindparam, text

from service.store._counts import TrialCounts
from service.store._recount import repair
from service.store._tables import study_counters

__all__ = ["BestTrial", "TrialSummary", "summarize"]

_COUNT_FIELDS = ("running", "waiting", "complete", "pruned", "fail", "retried")


@dataclass(frozen=True)
class BestTrial:
    number: int
    value: float
    params: dict[str, object]


@dataclass(frozen=True)
class TrialSummary:
    counts: TrialCounts
    best: BestTrial | None


def summarize(
    engine: Engine, study_ids: Sequence[int], *, with_best: bool = True
) -> dict[int, TrialSummary]:
    """Summaries of these studies; the same rules as ``count_trials`` and ``best_trial``.
    Without ``with_best`` the best trial's parameters are not read (its number and value
    are)."""
    ids = list(dict.fromkeys(study_ids))
    if not ids:
        return {}
    rows = _rows(engine, ids)
    missing = [i for i in ids if i not in rows]
    if missing:
        for study_id in missing:
            repair(engine, study_id)
        rows.update(_rows(engine, missing))
    params: dict[int, dict[str, object]] = defaultdict(dict)
    best_ids = [int(r["best_trial_id"]) for r in rows.values() if r["best_trial_id"] is not None]
    if best_ids and with_best:
        with engine.connect() as conn:
            for trial_id, name, value, distribution in conn.execute(_expanding(
                "SELECT trial_id, param_name, param_value, distribution_json FROM trial_params "
                "WHERE trial_id IN :ids ORDER BY param_id"), {"ids": best_ids}):
                params[trial_id][name] = json_to_distribution(distribution).to_external_repr(
                    value)
    summaries = {}
    for study_id in ids:
        row = rows.get(study_id)
        if row is None:  # deleted meanwhile
            summaries[study_id] = TrialSummary(counts=TrialCounts(), best=None)
            continue
        counts = TrialCounts(**{name: int(row[name]) for name in _COUNT_FIELDS})
        counts.finished = counts.complete + counts.pruned + counts.fail - counts.retried
        best = None if row["best_trial_id"] is None else BestTrial(
            number=int(row["best_number"]), value=float(row["best_value"]),
            params=params[int(row["best_trial_id"])])
        summaries[study_id] = TrialSummary(counts=counts, best=best)
    return summaries


def _rows(engine: Engine, ids: list[int]) -> dict[int, dict[str, Any]]:
    with engine.connect() as conn:
        return {int(row["study_id"]): dict(row) for row in conn.execute(_expanding(
            f"SELECT * FROM {study_counters.name} WHERE study_id IN :ids"),
            {"ids": ids}).mappings()}


def _expanding(sql: str) -> TextClause:
    return text(sql).bindparams(bindparam("ids", expanding=True))
