"""On SQLite the store's writers in one process queue on its lock, not in SQLite's busy
handler: many threads submitting and cancelling at once, with the shortest busy timeout, all
succeed; and a write waits while another thread holds the lock. PostgreSQL takes no lock."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from service.config import Settings
from service.store import StudyStore
from tests.factories import create_study, make_settings

THREADS = 32
EACH = 8


def _store(settings: Settings) -> StudyStore:
    store = StudyStore(settings.model_copy(update={"sqlite_busy_timeout_s": 0.01}))
    store.initialize()
    return store


def _submit_and_cancel(store: StudyStore, name: str) -> None:
    store.cancel(create_study(store, name=name).id)


def _created_while_held(store: StudyStore, name: str, *, within_s: float) -> bool:
    """Whether another thread creates a study while this one holds the store's write lock
    (then, the lock released, the create is awaited)."""
    created = threading.Event()
    writer = threading.Thread(target=lambda: (create_study(store, name=name), created.set()))
    with store.writing():
        writer.start()
        went_through = created.wait(within_s)
    writer.join(30)
    assert created.is_set() and [s.name for s in store.list_studies()] == [name]
    return went_through


def test_concurrent_writers_of_one_process_all_get_through(sqlite_settings: Settings) -> None:
    store = _store(sqlite_settings)
    assert store.settings.sqlite_busy_timeout == 0.5  # SQLite waits at most this long
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(_submit_and_cancel, store, f"w{t}-{i}")
                       for t in range(THREADS) for i in range(EACH)]
            errors = [f.exception() for f in futures if f.exception() is not None]
        assert errors == []
        studies = store.list_studies()
        assert len(studies) == THREADS * EACH
        assert {s.status for s in studies} == {"cancelled"}
    finally:
        store.close()


def test_a_write_waits_while_another_thread_holds_the_lock(sqlite_settings: Settings) -> None:
    store = _store(sqlite_settings)
    try:
        assert not _created_while_held(store, "queued", within_s=0.5), \
            "the create did not wait for the lock"
    finally:
        store.close()


@pytest.mark.postgres
def test_postgresql_takes_no_process_lock(postgres_url: str) -> None:
    store = _store(make_settings(postgres_url))
    try:
        assert _created_while_held(store, "unlocked", within_s=30), \
            "the create waited for a lock PostgreSQL does not need"
    finally:
        store.close()
