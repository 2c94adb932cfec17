"""The one place that turns errors into HTTP responses: RFC 9457 problem details.

Every 4xx and 5xx body is ``application/problem+json`` with ``type``, ``title``, ``status``,
``detail``, ``instance``, the request id, the error ``code`` (the service's exception name, so
clients can raise the same type) and, for invalid specs, every problem in ``errors``. Nothing
internal (stack traces, file paths, SQL) ever reaches a response.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import optuna
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api._request_id import current_request_id
from service.errors import (
    AuthenticationError,
    RnntuneError,
    SpecError,
    TransientError,
    error_classes,
)
from service.store import is_disk_full

__all__ = ["ROUTE_TITLES", "install_error_handlers", "problem_response"]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# Every status an API route may answer with, and its title: the domain errors' own (parents
# first, so each status keeps its most general title), and a full disk's.
ROUTE_TITLES = {
    **{kind.status: kind.title for kind in reversed(error_classes())},
    507: "Insufficient storage",
}
TITLES = {**ROUTE_TITLES, 405: "Method not allowed"}


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


class ProblemResponse(JSONResponse):
    """Problem details as ASCII JSON: a message may quote input with lone surrogates (legal in
    a JSON string escape, not in UTF-8), which the default UTF-8 rendering cannot encode."""

    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def problem_response(
    status: int,
    detail: str,
    *,
    code: str,
    instance: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:rnntune:problem:{_kebab(code)}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        "request_id": current_request_id(),
    }
    if errors:
        body["errors"] = errors
    return ProblemResponse(body, status_code=status, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RnntuneError)
    errors = None
    if isinstance(exc, SpecError):
        errors = [{"loc": list(loc), "msg": msg} for loc, msg in exc.details]
    headers = None
    if isinstance(exc, AuthenticationError):
        headers = {"WWW-Authenticate": 'Bearer, Basic realm="rnntune"'}
    elif isinstance(exc, TransientError):
        log.warning("storage unavailable: %s", exc.__cause__ or exc)
        headers = {"Retry-After": "2"}
    return problem_response(exc.status, str(exc), code=exc.code,
                            instance=request.url.path, errors=errors, headers=headers)


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"]} for e in exc.errors()]
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
    return problem_response(SpecError.status, detail, code=SpecError.code,
                            instance=request.url.path, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}; see /docs"
    return problem_response(exc.status_code, detail, code="HTTPError",
                            instance=request.url.path, headers=getattr(exc, "headers", None))


async def _storage_unavailable(request: Request, exc: Exception) -> JSONResponse:
    if is_disk_full(exc):
        # Not a hiccup: every retry would fail the same way until space is freed.
        log.critical("the database's disk is full: %s", exc)
        return problem_response(
            507, "the database's disk is full; nothing was written, and retrying will not "
            "help until an operator frees space", code="StorageFullError",
            instance=request.url.path)
    log.warning("storage unavailable: %s", exc)
    return problem_response(
        TransientError.status, "the database is busy or unavailable; retry shortly",
        code=TransientError.code,
        instance=request.url.path, headers={"Retry-After": "2"},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        500, f"internal error; quote request id {current_request_id()} when reporting it",
        code="InternalError", instance=request.url.path,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RnntuneError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _storage_unavailable)
    app.add_exception_handler(optuna.exceptions.StorageInternalError, _storage_unavailable)
    app.add_exception_handler(Exception, _unexpected)
