"""Application factory: the REST API under /v1 plus the read-only dashboard at the root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from threading import BoundedSemaphore
from typing import TYPE_CHECKING, Any

import optuna_dashboard
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from service import __version__
from service.api import _catalog, _datasets, _metrics, _models, _results, _studies, _sweeps
from service.api._auth import AuthGate, ReadPrincipal, prepare_keys
from service.api._dashboard import DashboardDispatcher
from service.api._errors import ROUTE_TITLES, install_error_handlers
from service.api._lanes import Lanes
from service.api._request_id import RequestIdMiddleware
from service.api._study_views import StudyViews
from service.api._sweeper import Sweeper
from service.api._trial_views import TrialViews
from service.config import Settings
from service.schemas import Problem
from service.store import StudyStore

if TYPE_CHECKING:  # the API reports on the local pool; it does not start one
    from service.worker import PoolLiveness

__all__ = ["create_api", "create_app"]


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": title, "model": Problem} for status, title in ROUTE_TITLES.items()
}


def _document_problems_as_problem_json(app: FastAPI) -> None:
    """Error responses are served as application/problem+json; say so in the schema."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    for status, response in operation.get("responses", {}).items():
                        if status[0] not in "45":
                            continue
                        # Whatever media type the route's own responses use (JSON, HTML),
                        # its errors are problem documents.
                        for entry in list(response.get("content", {}).values()):
                            if entry.get("schema", {}).get("$ref", "").endswith("/Problem"):
                                response["content"] = {"application/problem+json": entry}
                                break
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_api(
    settings: Settings, *, store: StudyStore | None = None, workers: PoolLiveness | None = None
) -> FastAPI:
    """The REST API alone. ``store`` may be shared with the caller (the dashboard uses it);
    ``workers``, the local worker pool, is reported by ``/healthz``."""
    store = store or StudyStore(settings)

    gate = AuthGate(settings, store.keys)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store.initialize()
        prepare_keys(settings, store.keys)
        # With several API processes, the one process that supervises them sweeps.
        sweeper = Sweeper(store, interval_s=settings.sweep_interval_s)
        if settings.api_sweep:
            sweeper.start()
        try:
            yield
        finally:
            if settings.api_sweep:
                sweeper.stop()
            store.close()

    app = FastAPI(
        responses=_PROBLEMS,
        title="rnntune",
        version=__version__,
        description="Hyperparameter search for RNN, LSTM and GRU models. "
        "The Optuna dashboard is served read-only at /dashboard.",
        lifespan=lifespan,
        # Served below behind the same key check as everything else (see _docs_routes).
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    # Each prediction may hold up to the unpacked-size limit in memory: a bounded number run.
    app.state.prediction_slots = BoundedSemaphore(settings.max_concurrent_predictions)
    app.state.store = store
    app.state.trial_views = TrialViews()
    app.state.study_views = StudyViews()
    app.state.lanes = Lanes.for_settings(settings)
    app.state.auth = gate
    install_error_handlers(app)
    _document_problems_as_problem_json(app)
    app.include_router(_studies.router)
    app.include_router(_sweeps.router)
    app.include_router(_catalog.router)
    app.include_router(_datasets.router)
    app.include_router(_results.router)
    app.include_router(_models.router)
    app.include_router(_metrics.router)

    _docs_routes(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> JSONResponse:
        """200 when the database answers and the local workers (if any) run; else 503."""
        with store.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        body: dict[str, Any] = {"status": "ok", "version": __version__}
        if workers is not None:
            body["workers"] = pool = workers.liveness()
            if not pool["supervised"] or (pool["expected"] and not pool["alive"]):
                body["status"] = "degraded"
                return JSONResponse(body, status_code=503)
        return JSONResponse(body)
    return app


def _docs_routes(app: FastAPI) -> None:
    """``/openapi.json`` and ``/docs`` need a read key once keys are in use, like the rest."""

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_json(_: ReadPrincipal) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(_: ReadPrincipal) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs")


def create_app(settings: Settings, *, workers: PoolLiveness | None = None) -> RequestIdMiddleware:
    """REST API and dashboard on one port: the dashboard paths go to the dashboard."""
    store = StudyStore(settings)
    api = create_api(settings, store=store, workers=workers)
    return RequestIdMiddleware(DashboardDispatcher(
        api,
        lambda: optuna_dashboard.wsgi(store.optuna_storage),
        gate=api.state.auth,
        owns=store.owns,
    ))
