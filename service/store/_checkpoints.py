"""Epoch checkpoints in the database, so a retry on any machine resumes where a trial stopped."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, text
from sqlalchemy.engine import Connection

from service.store._engine import utcnow
from service.store._retry import retry_transient
from service.store._tables import checkpoints, studies

__all__ = ["Checkpoint", "CheckpointStore"]


@dataclass(frozen=True)
class Checkpoint:
    key: str
    epoch: int  # epochs finished when it was taken
    state: bytes


class CheckpointStore:
    """One row per trial lineage (a trial and its retries share the key); newest wins."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # Each call is one transaction that happens whole or not at all: safe to repeat through
    # a dropped connection or a lock wait, which must not cost a trial its progress.
    @retry_transient
    def save(self, *, key: str, study_id: int, epoch: int, state: bytes) -> None:

        with self._engine.begin() as conn:
            conn.execute(delete(checkpoints).where(checkpoints.c.key == key))
            conn.execute(insert(checkpoints).values(
                key=key, study_id=study_id, epoch=epoch, state=state, updated_at=utcnow()
            ))

    @retry_transient
    def load(self, key: str) -> Checkpoint | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(checkpoints.c.epoch, checkpoints.c.state).where(checkpoints.c.key == key)
            ).first()
        return None if row is None else Checkpoint(key=key, epoch=row.epoch, state=row.state)

    @retry_transient
    def delete(self, key: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(checkpoints).where(checkpoints.c.key == key))

    @retry_transient
    def any_of(self, study_id: int) -> bool:
        """Whether the study has a checkpoint (a read: deleting none is still a write)."""
        with self._engine.connect() as conn:
            return conn.execute(select(checkpoints.c.study_id)
                                .where(checkpoints.c.study_id == study_id).limit(1)
                                ).first() is not None

    def delete_study(self, study_id: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(checkpoints).where(checkpoints.c.study_id == study_id))

    def collect(self) -> int:
        """Delete checkpoints nobody will resume: those of studies that are gone or no longer
        active, and lineages whose every trial has ended without a re-run to come (out of
        retries, or finished while its own delete was lost). Returns how many went."""
        with self._engine.begin() as conn:
            return int(conn.execute(text(
                f"DELETE FROM {checkpoints.name} WHERE study_id NOT IN "
                f"(SELECT id FROM {studies.name} WHERE status IN ('queued', 'running')) "
                "OR (EXISTS (SELECT 1 FROM trial_user_attributes a "
                f"  WHERE a.key = 'checkpoint_key' AND a.value_json = {_quoted(conn)}) "
                " AND NOT EXISTS (SELECT 1 FROM trial_user_attributes a "
                "  JOIN trials t ON t.trial_id = a.trial_id "
                f"  WHERE a.key = 'checkpoint_key' AND a.value_json = {_quoted(conn)} "
                "  AND (t.state IN ('RUNNING', 'WAITING') OR EXISTS ("
                "   SELECT 1 FROM trial_system_attributes r WHERE r.trial_id = t.trial_id "
                "   AND r.key = 'requeue' AND r.value_json = 'true'))))"
            )).rowcount)

    def count(self, study_id: int) -> int:
        with self._engine.connect() as conn:
            return len(conn.execute(
                select(checkpoints.c.key).where(checkpoints.c.study_id == study_id)
            ).all())


def _quoted(conn: Connection) -> str:
    """SQL for the checkpoint row's key as Optuna stores a string attribute: JSON-quoted."""
    return f"""('"' || {checkpoints.name}.key || '"')"""
