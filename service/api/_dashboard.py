"""Serve optuna-dashboard from the API process, read-only for anyone who is not an admin.

The dashboard's page loads ``/api/...`` and ``/static/...`` from the root, so it only works
mounted at ``/``. A small ASGI dispatcher sends its paths to it and everything else to the
REST API (which keeps its JSON 404s). The dashboard has no authentication of its own and can
delete studies, so its non-GET requests need the ``X-Admin-Token`` header.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any, cast

from a2wsgi import WSGIMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api._errors import problem_response

__all__ = ["DashboardDispatcher", "is_dashboard_path"]

_DASHBOARD_PREFIXES = ("/dashboard", "/api/", "/static/", "/artifacts/", "/csv/")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_dashboard_path(path: str) -> bool:
    return path in ("/", "/favicon.ico", "/api") or path.startswith(_DASHBOARD_PREFIXES)


class DashboardDispatcher:
    """Routes requests between the REST API and a lazily built dashboard WSGI app."""

    def __init__(
        self, api: ASGIApp, make_dashboard: Callable[[], Any], *, admin_token: str | None
    ) -> None:
        self.api = api
        self._make_dashboard = make_dashboard
        self._dashboard: ASGIApp | None = None
        self._admin_token = admin_token

    def _dashboard_app(self) -> ASGIApp:
        if self._dashboard is None:
            wsgi = WSGIMiddleware(self._make_dashboard())
            self._dashboard = cast(ASGIApp, wsgi)
        return self._dashboard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_dashboard_path(scope["path"]):
            await self.api(scope, receive, send)
            return
        if scope["method"] not in _READ_METHODS and not self._is_admin(scope):
            response = problem_response(
                403,
                "the dashboard is read-only; send X-Admin-Token to change studies from it",
                code="ForbiddenError",
                instance=scope["path"],
            )
            await response(scope, receive, send)
            return
        await self._dashboard_app()(scope, receive, send)

    def _is_admin(self, scope: Scope) -> bool:
        if not self._admin_token:
            return False
        for key, value in scope.get("headers", []):
            if key == b"x-admin-token":
                return hmac.compare_digest(value.decode("latin-1"), self._admin_token)
        return False
