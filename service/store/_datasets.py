"""Uploaded data sets in the database, bytes and all: any worker reads one by its id."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, or_, select
from sqlalchemy.exc import IntegrityError

from service.errors import ConflictError, NotFoundError
from service.store._engine import utcnow
from service.store._retry import retry_transient
from service.store._tables import datasets, studies
from service.tasks import StoredDataset

__all__ = ["DatasetRecord", "DatasetStore"]

_CACHED = 2  # parsed-ready blobs a process keeps; data sets never change under an id+hash


@dataclass(frozen=True)
class DatasetRecord:
    """A data set's row without its bytes."""

    id: int
    name: str
    kind: str
    format: str
    size_bytes: int
    sha256: str
    meta: dict[str, Any]
    created_at: datetime
    owner_key_id: int | None


_COLUMNS = [c for c in datasets.c if c.name != "content"]


class DatasetStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._cache: OrderedDict[tuple[int, str], StoredDataset] = OrderedDict()

    def create(
        self,
        *,
        name: str,
        kind: str,
        format: str,
        content: bytes,
        meta: dict[str, Any],
        owner_key_id: int | None = None,
    ) -> DatasetRecord:
        """Store a validated data set in one insert: either all of it is there or none."""

        try:
            with self._engine.begin() as conn:
                dataset_id = conn.execute(insert(datasets).values(
                    name=name, kind=kind, format=format, size_bytes=len(content),
                    sha256=hashlib.sha256(content).hexdigest(), meta=meta,
                    created_at=utcnow(), owner_key_id=owner_key_id, content=content,
                )).inserted_primary_key[0]  # type: ignore[index]
        except IntegrityError:
            raise ConflictError(
                f"a data set named {name!r} already exists; choose another name"
            ) from None
        return self.get(int(dataset_id))

    @retry_transient
    def get(self, dataset_id: int) -> DatasetRecord:
        with self._engine.connect() as conn:
            row = conn.execute(select(*_COLUMNS).where(datasets.c.id == dataset_id)).first()
        if row is None:
            raise NotFoundError(f"data set {dataset_id} does not exist")
        return _record(row._mapping)

    @retry_transient
    def list_datasets(self, *, owner_key_id: int | None = None) -> list[DatasetRecord]:
        query = select(*_COLUMNS).order_by(datasets.c.id)
        if owner_key_id is not None:
            query = query.where(datasets.c.owner_key_id == owner_key_id)
        with self._engine.connect() as conn:
            return [_record(row._mapping) for row in conn.execute(query)]

    @retry_transient
    def stored(self, dataset_id: int) -> StoredDataset:
        """The data set with its bytes, as a task needs it (cached by id and checksum)."""
        record = self.get(dataset_id)
        key = (record.id, record.sha256)
        cached = self._cache.get(key)
        if cached is None:
            with self._engine.connect() as conn:
                content = conn.execute(
                    select(datasets.c.content).where(datasets.c.id == dataset_id)
                ).scalar_one_or_none()
            if content is None:
                raise NotFoundError(f"data set {dataset_id} does not exist")
            cached = StoredDataset(
                id=record.id, name=record.name, format=record.format,  # type: ignore[arg-type]
                sha256=record.sha256, content=bytes(content),
                parse_options=record.meta.get("options", {}),
            )
            self._cache[key] = cached
            while len(self._cache) > _CACHED:
                self._cache.popitem(last=False)
        return cached

    def users(self, dataset_id: int) -> list[int]:
        """Studies that still need the data set: active, or with an evaluation to run."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(studies.c.id, studies.c.spec).where(or_(
                    studies.c.status.in_(("queued", "running")),
                    studies.c.eval_status.in_(("pending", "running")),
                ))
            ).all()
        return [row.id for row in rows if (row.spec.get("task") or {}).get("dataset") == dataset_id]

    def delete(self, dataset_id: int) -> None:
        """Remove a data set; refused while a study still needs it."""
        self.get(dataset_id)  # NotFoundError
        users = self.users(dataset_id)
        if users:
            raise ConflictError(
                f"data set {dataset_id} is used by active studies {users}; cancel them or wait "
                "for them to finish (and their final evaluation) before deleting it"
            )
        with self._engine.begin() as conn:
            conn.execute(delete(datasets).where(datasets.c.id == dataset_id))


def _record(row: Any) -> DatasetRecord:
    return DatasetRecord(
        id=row["id"], name=row["name"], kind=row["kind"], format=row["format"],
        size_bytes=row["size_bytes"], sha256=row["sha256"], meta=row["meta"],
        created_at=row["created_at"], owner_key_id=row["owner_key_id"],
    )
