"""Reads that cost what they return: a page of trials, the best trial, the Pareto front, and
the aggregates of ``/metrics``, each from the counters rows or from SQL over just the rows it
shows, never by loading a whole study."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from optuna.trial import FrozenTrial
from sqlalchemy import Connection, bindparam, text

from service.store import _optuna_tables
from service.store._base import StoreBase
from service.store._pareto import pareto_front
from service.store._records import StudyRecord
from service.store._retry import retry_transient
from service.store._tables import retry_links, study_counters
from service.store._trial_rows import TrialStamp, load_trials

__all__ = ["DurationHistogram", "Reads"]

_STATES = ("running", "waiting", "complete", "pruned", "fail")


@dataclass(frozen=True)
class DurationHistogram:
    """Wall times of finished (complete or pruned) trials: cumulative counts per bound."""

    buckets: dict[float, int]
    count: int
    sum_s: float


class Reads(StoreBase):
    """The read part of ``StudyStore``."""

    @retry_transient
    def trials_page(
        self, record: StudyRecord, *, offset: int, limit: int, state: str | None = None
    ) -> tuple[int, list[FrozenTrial], dict[int, int]]:
        """One page of trials by number: (total, trials, {retried number: retry number}).

        The total comes from the counters row and the retry links of the page's trials
        alone, so a page costs the same in a study of 10,000.
        """
        total, stamps, retried_by = self.page_stamps(record, offset=offset, limit=limit,
                                                     state=state)
        return total, self.trials_by_id([s.trial_id for s in stamps]), retried_by

    @retry_transient
    def page_stamps(
        self, record: StudyRecord, *, offset: int, limit: int, state: str | None = None
    ) -> tuple[int, list[TrialStamp], dict[int, int]]:
        """A page of trials as stamps (id, number, state, completion time), for a reader that
        keeps finished trials' views and loads only the others (``trials_by_id``)."""
        counts = self.summaries([record], with_best=False)[record.id].counts
        total = (getattr(counts, state) if state else
                 sum(getattr(counts, s) for s in _STATES))
        with self.engine.connect() as conn:
            stamps = _optuna_tables.page_stamps(conn, record.id, offset=offset, limit=limit,
                                                state=state)
            retried_by = _retried_by(conn, record.id, [s.number for s in stamps])
        return total, stamps, retried_by

    @retry_transient
    def trials_by_id(self, trial_ids: Sequence[int]) -> list[FrozenTrial]:
        """These trials, ordered by number."""
        if not trial_ids:
            return []
        with self.engine.connect() as conn:
            return load_trials(conn, trial_ids)

    @retry_transient
    def best_trial_of(self, record: StudyRecord) -> FrozenTrial | None:
        """The study's best complete trial (as ``best_trial`` picks it), from its counters."""
        with self.engine.connect() as conn:
            trial_id = conn.execute(text(
                f"SELECT best_trial_id FROM {study_counters.name} WHERE study_id = :study"),
                {"study": record.id}).scalar()
            if trial_id is None:
                return None
            found = load_trials(conn, [int(trial_id)])
        return found[0] if found else None

    @retry_transient
    def pareto_trials(self, record: StudyRecord) -> list[FrozenTrial]:
        """Optuna's Pareto-optimal feasible trials of a multi-objective study."""
        with self.engine.connect() as conn:
            return pareto_front(conn, record.id)

    @retry_transient
    def trial_totals(self, records: Sequence[StudyRecord]) -> dict[str, int]:
        """Trials by state (``running``, ``complete``, ...) over these studies."""
        totals = dict.fromkeys(_STATES, 0)
        for summary in self.summaries(records).values():
            for state in _STATES:
                totals[state] += getattr(summary.counts, state)
        return totals

    @retry_transient
    def duration_histogram(
        self, records: Sequence[StudyRecord], bounds: Sequence[float]
    ) -> DurationHistogram:
        """Wall times of the finished trials of these studies, bucketed in the database."""
        ids = [r.id for r in records]
        if not ids:
            return DurationHistogram(dict.fromkeys(bounds, 0), 0, 0.0)
        with self.engine.connect() as conn:
            seconds = _seconds_between(conn, "datetime_start", "datetime_complete")
            columns = ", ".join(
                f"SUM(CASE WHEN d <= {float(b)!r} THEN 1 ELSE 0 END)" for b in bounds)
            row = conn.execute(text(
                f"SELECT count(*), COALESCE(SUM(d), 0), {columns} FROM ("
                f"SELECT {seconds} AS d FROM trials WHERE study_id IN :ids "
                "AND state IN ('COMPLETE', 'PRUNED') AND datetime_start IS NOT NULL "
                "AND datetime_complete IS NOT NULL) finished")
                .bindparams(bindparam("ids", expanding=True)), {"ids": ids}).one()
        return DurationHistogram(
            buckets={b: int(n or 0) for b, n in zip(bounds, row[2:], strict=True)},
            count=int(row[0]), sum_s=float(row[1]))

    @retry_transient
    def heartbeat_ages(self) -> list[tuple[int, int, float]]:
        """(study id, trial number, seconds since its last heartbeat) of running trials."""
        with self.engine.connect() as conn:
            return _optuna_tables.heartbeat_ages(conn)


def _retried_by(conn: Connection, study_id: int, numbers: list[int]) -> dict[int, int]:
    if not numbers:
        return {}
    return {int(n): int(r) for n, r in conn.execute(text(
        f"SELECT number, retry_number FROM {retry_links.name} WHERE study_id = :study "
        "AND number IN :numbers AND retry_number IS NOT NULL")
        .bindparams(bindparam("numbers", expanding=True)),
        {"study": study_id, "numbers": numbers})}


def _seconds_between(conn: Connection, start: str, end: str) -> str:
    if conn.dialect.name == "sqlite":  # to the millisecond: SQLite's date functions' unit
        return f"((julianday({end}) - julianday({start})) * 86400.0)"
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"
