"""The one place that maps domain and storage errors to HTTP responses."""

from __future__ import annotations

import logging

import optuna
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from service.errors import (
    ConflictError,
    InvalidRequestError,
    MalformedDocumentError,
    NotFoundError,
    RnntuneError,
    SpecError,
    TransientError,
)
from service.schemas import ErrorBody, ErrorDetail

__all__ = ["install_error_handlers", "status_for"]

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[RnntuneError], int]] = [
    (MalformedDocumentError, 400),
    (SpecError, 422),
    (InvalidRequestError, 400),
    (NotFoundError, 404),
    (ConflictError, 409),
    (TransientError, 503),
]


def status_for(error: RnntuneError) -> int:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 500


def _body(kind: str, message: str, details: list[ErrorDetail]) -> dict[str, object]:
    return {"error": ErrorBody(type=kind, message=message, details=details).model_dump()}


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RnntuneError)
    details: list[ErrorDetail] = []
    if isinstance(exc, SpecError):
        details = [ErrorDetail(loc=list(loc), msg=msg) for loc, msg in exc.details]
    return JSONResponse(
        _body(type(exc).__name__, str(exc), details), status_code=status_for(exc)
    )


async def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        ErrorDetail(loc=[str(p) for p in e["loc"]], msg=e["msg"]) for e in exc.errors()
    ]
    message = "; ".join(
        f"{'.'.join(str(part) for part in d.loc)}: {d.msg}" for d in details
    ) or "invalid request"
    return JSONResponse(_body("SpecError", message, details), status_code=422)


async def _storage_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("storage unavailable: %s", exc)
    return JSONResponse(
        _body("TransientError", "the database is busy or unavailable; retry shortly", []),
        status_code=503,
        headers={"Retry-After": "2"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RnntuneError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(OperationalError, _storage_unavailable)
    app.add_exception_handler(optuna.exceptions.StorageInternalError, _storage_unavailable)
