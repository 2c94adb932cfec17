"""The best model of each evaluated study, as the bytes of one model file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select

from service.store._engine import utcnow
from service.store._retry import retry_transient
from service.store._tables import models

__all__ = ["ModelFile", "ModelStore"]


@dataclass(frozen=True)
class ModelFile:
    study_id: int
    content: bytes
    created_at: datetime


class ModelStore:
    """One row per study; a repeated evaluation replaces it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @retry_transient
    def save(self, study_id: int, content: bytes) -> None:

        with self._engine.begin() as conn:
            conn.execute(delete(models).where(models.c.study_id == study_id))
            conn.execute(insert(models).values(
                study_id=study_id, size_bytes=len(content), created_at=utcnow(),
                content=content,
            ))

    @retry_transient
    def get(self, study_id: int) -> ModelFile | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(models.c.content, models.c.created_at).where(models.c.study_id == study_id)
            ).first()
        return None if row is None else ModelFile(study_id, bytes(row.content), row.created_at)

    def delete(self, study_id: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(models).where(models.c.study_id == study_id))
