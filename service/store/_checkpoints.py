"""Epoch checkpoints in the database, so a retry on any machine resumes where a trial stopped."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select

from service.store._retry import retry_transient
from service.store._tables import checkpoints

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
        from service.store._store import utcnow

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

    def delete_study(self, study_id: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(checkpoints).where(checkpoints.c.study_id == study_id))

    def count(self, study_id: int) -> int:
        with self._engine.connect() as conn:
            return len(conn.execute(
                select(checkpoints.c.key).where(checkpoints.c.study_id == study_id)
            ).all())
