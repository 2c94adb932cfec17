"""``WorkerStore``: a worker's store on one pool of (usually) one connection.

A worker process used three PostgreSQL connections: the pool of the service's tables, the pool
of Optuna's storage, and a second connection of that pool for the heartbeat thread. A worker
runs one statement at a time (plus a heartbeat every few seconds), so it needs one connection:
here both sides share Optuna's engine, whose pool (``KeptConnectionPool``) keeps one
connection open, and the heartbeat thread and the trial loop wait a moment for each other's
statement before opening a short-lived extra one. So the default ``max_connections = 100`` of
PostgreSQL takes about 90 workers instead of about 32.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from sqlalchemy import Engine

from service.config import Settings
from service.store import StudyStore
from service.worker._kept_pool import KeptConnectionPool

__all__ = ["WORKER_MAX_OVERFLOW", "WORKER_POOL_SIZE", "WorkerStore", "worker_settings"]

WORKER_POOL_SIZE = 1
# Short-lived extras for the heartbeat thread (and a statement nested in another's
# transaction), so neither ever waits for the pool.
WORKER_MAX_OVERFLOW = 2


def worker_settings(settings: Settings) -> Settings:
    """The settings with a worker's pool size (one connection kept open)."""
    return settings.model_copy(update={"db_pool_size": WORKER_POOL_SIZE,
                                       "db_max_overflow": WORKER_MAX_OVERFLOW})


class WorkerStore(StudyStore):
    """A ``StudyStore`` whose tables and Optuna storage share one engine (PostgreSQL).

    SQLite keeps two engines: a file has no connection limit, and the service's engine sets
    the pragmas (WAL, synchronous) that Optuna's does not.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(worker_settings(settings))
        # Through a transaction pooler, Optuna's schema check (a transaction held open while
        # a second connection reads the schema version) can take every server connection
        # of the pool when many workers start at once, each waiting for a second: a
        # deadlock. ``rnntune worker`` and ``serve`` check the schema before starting them.
        self.check_optuna_schema = not settings.db_transaction_pooler

    def _optuna_engine_kwargs(self) -> dict[str, Any]:
        kwargs = super()._optuna_engine_kwargs()
        if not self.settings.is_sqlite:
            kwargs["poolclass"] = KeptConnectionPool  # the trial loop and heartbeats wait
        return kwargs

    @cached_property
    def engine(self) -> Engine:
        if self.settings.is_sqlite:
            return StudyStore.engine.func(self)  # type: ignore[attr-defined,no-any-return]
        return self.optuna_storage.engine

    def initialize(self) -> None:
        super().initialize()
        # A failed first try rebuilds Optuna's storage: keep sharing the engine in use.
        if not self.settings.is_sqlite and self.engine is not self.optuna_storage.engine:
            self.engine.dispose()
            self.__dict__["engine"] = self.optuna_storage.engine

    def close(self) -> None:
        # One engine under two names: dispose of it once, through Optuna's storage.
        if not self.settings.is_sqlite:
            self.__dict__.pop("engine", None)
        super().close()
