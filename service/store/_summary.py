"""Trial counts and best trial of many studies in a few SQL queries over Optuna's tables.

Listing studies through Optuna's storage API loads every trial of every study; for the list
and detail views only counts and the best trial are needed, so they are aggregated in the
database.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from optuna.distributions import json_to_distribution
from sqlalchemy import Engine, TextClause, bindparam, text

from service.store._counts import REQUEUE_ATTR, TrialCounts

__all__ = ["BestTrial", "TrialSummary", "summarize"]

_STATE_FIELDS = {"RUNNING": "running", "WAITING": "waiting", "COMPLETE": "complete",
                 "PRUNED": "pruned", "FAIL": "fail"}


@dataclass(frozen=True)
class BestTrial:
    number: int
    value: float
    params: dict[str, object]


@dataclass(frozen=True)
class TrialSummary:
    counts: TrialCounts
    best: BestTrial | None


def summarize(engine: Engine, studies: Sequence[tuple[int, str]]) -> dict[int, TrialSummary]:
    """Summaries of ``(study id, direction)`` pairs; the same rules as ``count_trials``."""
    ids = [study_id for study_id, _ in studies]
    if not ids:
        return {}
    counts = {study_id: TrialCounts() for study_id in ids}
    fail_numbers: dict[int, set[int]] = defaultdict(set)
    retried: dict[int, set[int]] = defaultdict(set)
    best_rows: dict[int, tuple[int, int, float]] = {}
    directions = dict(studies)
    with engine.connect() as conn:
        # Counted and ranked in the database: a study of 10,000 trials must not send 10,000
        # rows to Python for every status read.
        for study_id, state, n in conn.execute(_query(
            "SELECT study_id, state, count(*) FROM trials WHERE study_id IN :ids "
            "GROUP BY study_id, state"), {"ids": ids}):
            field = _STATE_FIELDS.get(str(state))
            if field is not None:
                setattr(counts[study_id], field, getattr(counts[study_id], field) + int(n))
        for study_id, number in conn.execute(_query(
            "SELECT study_id, number FROM trials WHERE state = 'FAIL' AND study_id IN :ids"),
                {"ids": ids}):
            fail_numbers[study_id].add(int(number))
        for study_id, number, key, value_json in conn.execute(_query(
            "SELECT t.study_id, t.number, a.key, a.value_json FROM trial_system_attributes a "
            "JOIN trials t ON t.trial_id = a.trial_id "
            f"WHERE a.key IN ('retry_history', '{REQUEUE_ATTR}') AND t.study_id IN :ids"),
                {"ids": ids}):
            # A retry names the failures it re-runs; a marked failure is about to be re-run.
            if key == REQUEUE_ATTR:
                retried[study_id].add(int(number))
            else:
                retried[study_id].update(int(n) for n in json.loads(value_json))
        for maximize in (False, True):
            group = [i for i in ids if (directions[i] == "maximize") == maximize]
            if not group:
                continue
            # The best finite value of each study, the earliest trial on a tie. Infinite
            # values are stored as NULL (with their type beside), so they drop out here.
            order = "DESC" if maximize else "ASC"
            ranked = (
                "SELECT t.study_id, t.trial_id, t.number, v.value{rank} FROM trials t "
                "JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0 "
                "WHERE t.state = 'COMPLETE' AND v.value IS NOT NULL AND t.study_id IN :ids"
            )
            if len(group) == 1:
                # One study (the detail view): a plain sort is ~3x cheaper than a window.
                sql = ranked.format(rank="") + f" ORDER BY v.value {order}, t.number LIMIT 1"
            else:
                sql = ("SELECT study_id, trial_id, number, value FROM (" + ranked.format(
                    rank=", ROW_NUMBER() OVER (PARTITION BY t.study_id "
                         f"ORDER BY v.value {order}, t.number) AS best_rank")
                       + ") ranked WHERE best_rank = 1")
            for study_id, trial_id, number, value in conn.execute(_query(sql), {"ids": group}):
                value = float(value)
                if math.isfinite(value):
                    best_rows[study_id] = (int(trial_id), int(number), value)
        params: dict[int, dict[str, object]] = defaultdict(dict)
        best_ids = [row[0] for row in best_rows.values()]
        if best_ids:
            for trial_id, name, value, distribution in conn.execute(_query(
                "SELECT trial_id, param_name, param_value, distribution_json FROM trial_params "
                "WHERE trial_id IN :ids"), {"ids": best_ids}):
                params[trial_id][name] = json_to_distribution(distribution).to_external_repr(
                    value)
    summaries = {}
    for study_id in ids:
        c = counts[study_id]
        c.retried = len(fail_numbers[study_id] & retried[study_id])
        c.finished = c.complete + c.pruned + c.fail - c.retried
        row = best_rows.get(study_id)
        best = None if row is None else BestTrial(
            number=row[1], value=row[2], params=params[row[0]])
        summaries[study_id] = TrialSummary(counts=c, best=best)
    return summaries


def _query(sql: str) -> TextClause:
    return text(sql).bindparams(bindparam("ids", expanding=True))
