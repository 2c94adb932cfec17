"""A worker's pool of one kept PostgreSQL connection: a thread whose connection the other
thread holds waits for it instead of opening one; a statement nested in the same thread's
own gets a second connection at once; the worker's store uses the pool."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine, create_engine, event, text

from service.worker._kept_pool import KeptConnectionPool
from service.worker._store import WorkerStore
from tests.factories import make_settings


def _engine(url: str, *, wait_s: float) -> tuple[Engine, list[object]]:
    engine = create_engine(url, poolclass=KeptConnectionPool, pool_size=1, max_overflow=2)
    engine.pool.wait_s = wait_s  # type: ignore[attr-defined]
    opened: list[object] = []
    event.listen(engine, "connect", lambda dbapi_conn, _: opened.append(dbapi_conn))
    return engine, opened


def test_a_thread_waits_for_the_connection_the_other_holds(postgres_url: str) -> None:
    engine, opened = _engine(postgres_url, wait_s=30)
    released = threading.Event()

    def beat_holding_the_connection() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            time.sleep(0.3)
            released.set()

    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))  # the kept connection, opened
        beat = threading.Thread(target=beat_holding_the_connection)
        beat.start()
        time.sleep(0.1)
        with engine.connect() as conn:  # the trial's statement meets the beat
            assert released.is_set(), "did not wait for the beat's connection"
            conn.execute(text("SELECT 1"))
        beat.join(5)
        assert len(opened) == 1
    finally:
        engine.dispose()


def test_a_statement_nested_in_its_own_threads_gets_a_second_connection_at_once(
    postgres_url: str,
) -> None:
    engine, opened = _engine(postgres_url, wait_s=30)
    try:
        started = time.monotonic()
        with engine.connect() as outer, engine.connect() as nested:
            outer.execute(text("SELECT 1"))
            nested.execute(text("SELECT 1"))
        assert time.monotonic() - started < 10, "waited for a connection its thread held"
        assert len(opened) == 2
    finally:
        engine.dispose()


def test_the_worker_store_keeps_its_connection_in_this_pool(postgres_url: str) -> None:
    store = WorkerStore(make_settings(postgres_url))
    try:
        store.initialize()
        assert isinstance(store.engine.pool, KeptConnectionPool)
        assert store.engine is store.optuna_storage.engine
    finally:
        store.close()
