"""/v1/datasets: upload, list, show and delete users' data sets.

An upload is the raw file as the body (``application/octet-stream`` or ``text/csv``) with its
name and parse options in the query, so no multipart parser is needed. It is read up to the
size limit, validated completely and stored in one insert, or refused with nothing stored.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from service.api._auth import Principal, ReadPrincipal, SubmitPrincipal
from service.api._deps import SettingsDep, StoreDep
from service.api._limits import read_limited_body
from service.config import Settings
from service.errors import DatasetError, NotFoundError, PayloadTooLargeError
from service.schemas import DatasetList, DatasetPublic
from service.store import DatasetRecord, StudyStore
from service.tasks import SeriesDataset, StoredDataset, format_of, parse_dataset

__all__ = ["VisibleDatasets", "router"]

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

DatasetId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The data set's id")]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_. -]{0,199}$")

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "The file itself: NPZ (X, y, optional lengths and split) or CSV.",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


def _may_see(principal: Principal, record: DatasetRecord) -> bool:
    """Admins and read keys see every data set; submit keys only their own."""
    if principal.key is None or principal.key.scope in ("admin", "read"):
        return True
    return record.owner_key_id == principal.key.id


def _visible(store: StudyStore, principal: Principal, dataset_id: int) -> DatasetRecord:
    record = store.datasets.get(dataset_id)
    if not _may_see(principal, record):
        raise NotFoundError(f"data set {dataset_id} does not exist")
    return record


class VisibleDatasets:
    """The data sets a caller may use in a study (a ``DatasetSource``)."""

    def __init__(self, store: StudyStore, principal: Principal) -> None:
        self._store = store
        self._principal = principal

    def stored(self, dataset_id: int) -> StoredDataset:
        _visible(self._store, self._principal, dataset_id)
        return self._store.datasets.stored(dataset_id)


def _public(record: DatasetRecord) -> DatasetPublic:
    return DatasetPublic(
        id=record.id, name=record.name, kind=record.kind,  # type: ignore[arg-type]
        format=record.format,  # type: ignore[arg-type]
        size_bytes=record.size_bytes, sha256=record.sha256,
        created_at=record.created_at.replace(tzinfo=UTC), meta=record.meta,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DatasetPublic,
             openapi_extra=_UPLOAD_BODY)
async def upload_dataset(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    principal: SubmitPrincipal,
    name: Annotated[str | None, Query(description="Unique name; default: the file name")] = None,
    filename: Annotated[str | None, Query(description="The file's name; gives the format")] = None,
    format: Annotated[str | None, Query(description="npz or csv; default: from filename")] = None,
    kind: Annotated[
        str | None, Query(description="classification, regression or forecasting (CSV); "
                          "default: from the labels' type")
    ] = None,
    target: Annotated[str | None, Query(description="CSV: the column to forecast")] = None,
    time_column: Annotated[str | None, Query(description="CSV: the time column, if any")] = None,
) -> DatasetPublic:
    """Upload a data set; it is validated completely before anything is stored."""
    try:
        body = await read_limited_body(request, settings.max_upload_bytes)
    except PayloadTooLargeError as exc:
        raise PayloadTooLargeError(
            f"{exc.message}: data set files may be at most {settings.max_upload_bytes:,} bytes "
            "(the server's RNNTUNE_MAX_UPLOAD_BYTES)"
        ) from None
    options = {"name": name, "filename": filename, "format": format, "kind": kind,
               "target": target, "time_column": time_column}
    return await run_in_threadpool(_upload, body, options, store, settings, principal)


def _upload(
    body: bytes, options: dict[str, str | None], store: StudyStore, settings: Settings,
    principal: Principal,
) -> DatasetPublic:
    filename = options["filename"]
    name = options["name"] or filename
    if not name or not _NAME.match(name):
        raise DatasetError(
            f"name {name!r} is not allowed: give name= (or filename=) of 1-200 letters, digits, "
            "spaces, '_', '.' or '-', starting with a letter or digit"
        )
    if not body:
        raise DatasetError("the upload is empty; send the file as the request body")
    fmt = format_of(filename or name, options["format"])
    parsed = parse_dataset(
        body, format=fmt, kind=options["kind"], target=options["target"],
        time_column=options["time_column"],
        max_unpacked_bytes=settings.max_dataset_unpacked_bytes,
    )
    parse_options: dict[str, Any] = {"kind": parsed.kind}
    if isinstance(parsed, SeriesDataset):
        parse_options.update(target=parsed.columns[parsed.target],
                             time_column=parsed.time_column)
    meta = {**parsed.meta(), "filename": filename, "options": parse_options}
    record = store.datasets.create(
        name=name, kind=parsed.kind, format=fmt, content=body, meta=meta,
        owner_key_id=principal.key_id,
    )
    return _public(record)


@router.get("", response_model=DatasetList)
def list_datasets(store: StoreDep, principal: ReadPrincipal) -> DatasetList:
    records = [r for r in store.datasets.list_datasets() if _may_see(principal, r)]
    return DatasetList(datasets=[_public(r) for r in records])


@router.get("/{dataset_id}", response_model=DatasetPublic)
def get_dataset(dataset_id: DatasetId, store: StoreDep, principal: ReadPrincipal) -> DatasetPublic:
    return _public(_visible(store, principal, dataset_id))


@router.delete("/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_dataset(dataset_id: DatasetId, store: StoreDep, principal: SubmitPrincipal) -> Response:
    """Delete a data set; 409 while a queued or running study (or its evaluation) uses it."""
    _visible(store, principal, dataset_id)  # submit keys reach only their own
    store.datasets.delete(dataset_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
