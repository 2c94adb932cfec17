"""Serve optuna-dashboard from the API process, read-only for anyone who is not an admin.

The dashboard's page loads ``/api/...`` and ``/static/...`` from the root, so it only works
mounted at ``/``. A small ASGI dispatcher sends its paths to it and everything else to the
REST API (which keeps its JSON 404s). The dashboard has no authentication of its own and can
delete studies, so it is guarded here: reading needs a read or admin key once keys are in use
(browsers send it as the Basic password), and writing always needs an admin key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, cast

from a2wsgi import WSGIMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api._auth import AuthGate
from service.api._errors import problem_response
from service.errors import AuthenticationError, RnntuneError

__all__ = ["DashboardDispatcher", "is_dashboard_path"]

_DASHBOARD_PREFIXES = ("/dashboard", "/api/", "/static/", "/artifacts/", "/csv/")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The dashboard's delete (DELETE) and rename (POST .../rename) of a study.
_MANAGED = re.compile(r"^/api/studies/(\d+)(?:/rename)?/?$")


def is_dashboard_path(path: str) -> bool:
    return path in ("/", "/favicon.ico", "/api") or path.startswith(_DASHBOARD_PREFIXES)


class DashboardDispatcher:
    """Routes requests between the REST API and a lazily built dashboard WSGI app."""

    def __init__(
        self, api: ASGIApp, make_dashboard: Callable[[], Any], *, gate: AuthGate,
        owns: Callable[[int], bool] = lambda _: False,
    ) -> None:
        self.api = api
        self._make_dashboard = make_dashboard
        self._dashboard: ASGIApp | None = None
        self._gate = gate
        self._owns = owns

    def _dashboard_app(self) -> ASGIApp:
        if self._dashboard is None:
            wsgi = WSGIMiddleware(self._make_dashboard())
            self._dashboard = cast(ASGIApp, wsgi)
        return self._dashboard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_dashboard_path(scope["path"]):
            await self.api(scope, receive, send)
            return
        refusal = await run_in_threadpool(self._refusal, scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self._dashboard_app()(scope, receive, send)

    def _refusal(self, scope: Scope) -> Response | None:
        """Why this dashboard request may not pass, as a response; None when it may."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        writing = scope["method"] not in _READ_METHODS
        try:
            # The dashboard shows every study, so reading needs read scope (or admin), not a
            # submit key limited to its own studies; writing always needs admin.
            principal = self._gate.principal(headers, "admin" if writing else "read")
        except RnntuneError as exc:
            return _problem(exc, scope)
        if writing and principal.key is None:
            return problem_response(
                403, "the dashboard is read-only; create an admin API key to change studies "
                "from it", code="ForbiddenError", instance=scope["path"])
        if principal.key is not None and principal.key.scope == "submit":
            return problem_response(
                403, "the dashboard shows every study; it needs a read or admin key",
                code="ForbiddenError", instance=scope["path"])
        managed = _MANAGED.match(scope["path"]) if writing else None
        if managed and scope["method"] in ("DELETE", "POST") and self._owns(int(managed[1])):
            # Deleting or renaming (a copy under a new id) behind the service's back would
            # leave its row without a study; the service's own delete removes both.
            study_id = managed[1]
            return problem_response(
                409, f"study {study_id} is run by rnntune; delete it with DELETE "
                f"/v1/studies/{study_id} (rnntune delete {study_id}); it cannot be renamed",
                code="ConflictError", instance=scope["path"])
        return None


def _problem(exc: RnntuneError, scope: Scope) -> Response:
    headers = ({"WWW-Authenticate": 'Basic realm="rnntune"'}
               if isinstance(exc, AuthenticationError) else None)
    return problem_response(exc.status, str(exc), code=exc.code,
                            instance=scope["path"], headers=headers)
