"""The API side of ``rnntune serve``: one uvicorn process, or several behind one port.

With several, each API process builds the app from the environment and accepts on a socket of
its own (``_api_processes``; uvicorn's shared socket where the kernel cannot balance), and
this process keeps what must exist once: the local worker pool, whose liveness it writes to a
file for every API process's ``/healthz``, and the periodic sweep.
"""

from __future__ import annotations

import gc
import os
import tempfile
from pathlib import Path
from typing import Any

from service.cli._api_processes import APP, balanced_sockets_supported, serve_processes
from service.config import Settings

__all__ = ["app_from_environment", "choose_api_processes", "run_api", "uvicorn_options"]

# More API processes than this are not worth their memory: each holds its own pools and a copy
# of the app (~300 MB with torch imported).
_MAX_AUTO_PROCESSES = 4


def choose_api_processes(settings: Settings, *, cores: int | None = None) -> int:
    """``settings.api_processes``, or else one per core the local workers leave free (at
    least one, at most four), on SQLite as on PostgreSQL.

    Measured on 2 cores without local workers (docs/benchmarks.md, "API server processes"):
    under 50 clients on SQLite, two processes served 1.6-2.3x the requests of one, once each
    process accepted on a socket of its own (with one shared socket, one process could take
    most clients) and their writers queued on one file lock instead of SQLite's busy handler.
    A request's Python work holds a core; workers train with one core each and come first.
    """
    if settings.api_processes:
        return settings.api_processes
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, min(_MAX_AUTO_PROCESSES, cores - settings.workers))


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What every API process of ``serve`` passes to uvicorn."""
    return {"host": settings.host, "port": settings.port, "log_level": settings.log_level,
            "timeout_keep_alive": settings.keep_alive_s}


def run_api(settings: Settings, *, processes: int, workers: Any = None) -> None:
    """Serve the API (and dashboard) until interrupted. ``workers``: the local pool."""
    import uvicorn

    if processes <= 1:
        from service.api import create_app

        app = create_app(settings, workers=workers)
        _freeze_startup_objects()
        uvicorn.run(app, **uvicorn_options(settings))
        return

    from service.api._sweeper import Sweeper
    from service.store import StudyStore
    from service.worker import PoolStatusFile

    folder = Path(tempfile.mkdtemp(prefix="rnntune-serve-"))
    status = PoolStatusFile(folder / "pool.json")
    # The API processes are new interpreters: they read their settings from the environment.
    os.environ.update(_environment(settings, pool_status_file=status.path))
    store = StudyStore(settings)
    sweeper = Sweeper(store, interval_s=settings.sweep_interval_s)
    if workers is not None:
        status.start(workers)
    sweeper.start()
    try:
        if balanced_sockets_supported():
            serve_processes(processes, uvicorn_options(settings))
        else:
            uvicorn.run(APP, factory=True, workers=processes, **uvicorn_options(settings),
                        # uvicorn restarts a process that does not answer its ping in time;
                        # a process busy with a request on a loaded machine is not hung.
                        timeout_worker_healthcheck=30)
    finally:
        sweeper.stop()
        status.stop()
        store.close()
        status.path.unlink(missing_ok=True)
        folder.rmdir()


def app_from_environment() -> Any:
    """The app of one API process of several (uvicorn calls this in each)."""
    from service.api import create_app
    from service.api._request_id import RequestIdFilter
    from service.logs import configure_logging
    from service.worker import PoolStatusFile

    settings = Settings()
    configure_logging(settings.log_level, RequestIdFilter())
    pool = PoolStatusFile(settings.pool_status_file) if settings.pool_status_file else None
    app = create_app(settings, workers=pool)
    _freeze_startup_objects()
    return app


def _environment(settings: Settings, *, pool_status_file: Path) -> dict[str, str]:
    """What an API process needs beyond the inherited environment: the command line's
    settings, no sweep of its own, and where the pool's liveness is."""
    return {
        "RNNTUNE_DATABASE_URL": settings.database_url,
        "RNNTUNE_HOST": settings.host,
        "RNNTUNE_PORT": str(settings.port),
        "RNNTUNE_WORKERS": str(settings.workers),
        "RNNTUNE_DEVICE": settings.device,
        "RNNTUNE_LOG_LEVEL": settings.log_level,
        "RNNTUNE_API_SWEEP": "false",
        "RNNTUNE_POOL_STATUS_FILE": str(pool_status_file),
    }


def _freeze_startup_objects() -> None:
    """Keep what the server loaded at start (torch, Optuna, SQLAlchemy, the app: ~270,000
    objects) out of the garbage collector's full passes, which otherwise stall every request
    in flight for about 100 ms each time one runs."""
    gc.collect()
    gc.freeze()
