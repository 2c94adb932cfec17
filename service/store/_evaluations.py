"""Who evaluates a completed study's best configuration: a lease in the study's row.

When a study completes, ``eval_status`` becomes ``pending``. A worker takes it with one
conditional ``UPDATE`` (so exactly one worker runs it) and holds a lease that it renews while it
trains; a worker that dies lets the lease run out and another takes the evaluation over. After
``max_attempts`` such losses the evaluation is marked failed rather than retried for ever.

Lease ends are set and compared with the database's clock, never a worker's, and the result
and the model are written in one transaction only while the writer still holds an unexpired
lease: a worker that lost its lease, or whose study was deleted, writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, delete, insert, literal_column, or_, select, update
from sqlalchemy.engine import Connection

from service.store._engine import utcnow
from service.store._retry import retry_transient
from service.store._tables import models, studies

__all__ = ["EVALUATION_STATUSES", "EvaluationStore"]

EVALUATION_STATUSES = ("pending", "running", "done", "failed", "skipped")


def _db_now(conn: Connection) -> Any:
    """The database's clock, in the form its own timestamps are written in."""
    # SQLite's datetime() drops the fraction of a second; leases may be shorter.
    return literal_column("strftime('%Y-%m-%d %H:%M:%f', 'now')" if conn.dialect.name == "sqlite"
                          else "LOCALTIMESTAMP")


def _db_later(conn: Connection, seconds: float) -> Any:
    """The database's clock plus ``seconds`` (a number from the settings, never user text)."""
    seconds = float(seconds)
    if conn.dialect.name == "sqlite":
        return literal_column(f"strftime('%Y-%m-%d %H:%M:%f', 'now', '+{seconds} seconds')")
    return literal_column(f"(LOCALTIMESTAMP + make_interval(secs => {seconds}))")


class EvaluationStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @staticmethod
    def _claimable(now: Any) -> Any:
        return or_(
            studies.c.eval_status == "pending",
            and_(studies.c.eval_status == "running", studies.c.eval_lease_until < now),
        )

    @retry_transient
    def claim(self, *, owner: str, lease_s: float, max_attempts: int = 3) -> int | None:
        """Take the oldest evaluation that is pending or whose lease ran out; its study id."""
        now = utcnow()
        with self._engine.connect() as conn:
            # A plain read first: most polls find nothing and then take no write lock.
            candidates = conn.execute(
                select(studies.c.id, studies.c.eval_attempts)
                .where(self._claimable(_db_now(conn)))
                .order_by(studies.c.completed_at, studies.c.id)
            ).all()
        for study_id, attempts in candidates:
            if attempts >= max_attempts:
                self._give_up(study_id, now, attempts)
                continue
            with self._engine.begin() as conn:
                taken = conn.execute(
                    update(studies)
                    .where(studies.c.id == study_id, self._claimable(_db_now(conn)),
                           studies.c.eval_attempts == attempts)
                    .values(eval_status="running", eval_owner=owner,
                            eval_lease_until=_db_later(conn, lease_s),
                            eval_attempts=attempts + 1,
                            evaluation={"worker": owner,
                                        "started_at": now.replace(tzinfo=UTC).isoformat()})
                ).rowcount
            if taken == 1:
                return int(study_id)
        return None

    def _give_up(self, study_id: int, now: datetime, attempts: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(studies)
                .where(studies.c.id == study_id, self._claimable(_db_now(conn)))
                .values(eval_status="failed", eval_owner=None, eval_lease_until=None,
                        evaluation={"message": f"the evaluating worker stopped {attempts} "
                                    "times; giving up"})
            )

    @retry_transient
    def renew(self, study_id: int, *, owner: str, lease_s: float) -> bool:
        """Extend the lease; False when another worker has taken the evaluation over."""
        with self._engine.begin() as conn:
            return conn.execute(
                update(studies)
                .where(studies.c.id == study_id, studies.c.eval_owner == owner,
                       studies.c.eval_status == "running",
                       studies.c.eval_lease_until >= _db_now(conn))
                .values(eval_lease_until=_db_later(conn, lease_s))
            ).rowcount == 1

    @retry_transient
    def finish(
        self, study_id: int, *, owner: str, result: dict[str, Any], status: str = "done",
        model: bytes | None = None,
    ) -> bool:
        """Store the result (``done``) or the reason it failed (``failed``), and the best
        model with it, in one transaction, only while ``owner`` holds an unexpired lease.
        False (and nothing written) when it does not."""
        with self._engine.begin() as conn:
            held = conn.execute(
                update(studies)
                .where(studies.c.id == study_id, studies.c.eval_owner == owner,
                       studies.c.eval_status == "running",
                       studies.c.eval_lease_until >= _db_now(conn))
                .values(eval_status=status, eval_lease_until=None, evaluation=result)
            ).rowcount == 1
            if held and model is not None:
                conn.execute(delete(models).where(models.c.study_id == study_id))
                conn.execute(insert(models).values(
                    study_id=study_id, size_bytes=len(model), created_at=utcnow(), content=model))
        return held

    @retry_transient
    def release(self, study_id: int, *, owner: str) -> None:
        """Hand an interrupted evaluation back; a graceful stop does not use up an attempt."""
        with self._engine.begin() as conn:
            conn.execute(
                update(studies)
                .where(studies.c.id == study_id, studies.c.eval_owner == owner,
                       studies.c.eval_status == "running")
                .values(eval_status="pending", eval_owner=None, eval_lease_until=None,
                        eval_attempts=studies.c.eval_attempts - 1, evaluation=None)
            )
