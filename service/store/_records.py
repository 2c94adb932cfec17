"""The service's own study row, as read: ``StudyRecord``, and the ``Claim`` on a budget slot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["ACTIVE_STATUSES", "Claim", "StudyRecord", "StudyRow", "record_from_row"]

ACTIVE_STATUSES = ("queued", "running")


@dataclass(frozen=True)
class StudyRecord:
    id: int
    name: str
    status: str
    stop_reason: str | None
    spec: dict[str, Any]
    n_trials: int
    claimed: int
    in_flight: int
    priority: int
    max_parallel: int | None
    baseline: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    deadline: datetime | None
    last_claim_at: datetime | None
    owner_key_id: int | None = None
    baselines: list[dict[str, Any]] | None = None
    eval_status: str | None = None
    evaluation: dict[str, Any] | None = None


@dataclass(frozen=True)
class Claim:
    """A budget slot granted to a worker: it may start exactly one trial of the study, once
    the trial redeems the claim (``StudyStore.redeem``)."""

    study: StudyRecord
    slot: int
    claim_id: int | None = None


def record_from_row(row: Any) -> StudyRecord:
    """A row of the studies table (a mapping) as a record; the columns are its fields."""
    return StudyRecord(**{name: row[name] for name in StudyRecord.__dataclass_fields__})


@dataclass(frozen=True)
class StudyRow:
    """A row of the studies table as read, its JSON columns left as text: two reads of an
    unchanged study give equal rows, so a row can tell whether a view built from it still
    holds, without the decoding (most of the cost of reading a page of studies)."""

    names: Sequence[str]  # the columns, in the order of ``values``
    json_columns: frozenset[str]
    values: tuple[Any, ...]

    @property
    def id(self) -> int:
        return int(self.values[self.names.index("id")])

    def record(self) -> StudyRecord:
        row = dict(zip(self.names, self.values, strict=True))
        for name in self.json_columns:
            if row[name] is not None:
                row[name] = json.loads(row[name])
        return record_from_row(row)
