"""On SQLite the store's writers queue on its lock, not in SQLite's busy handler: many
threads submitting and cancelling at once, with the shortest busy timeout, all succeed; a
write waits while another thread holds the lock, and while another process does (several API
processes on one file); the lock is re-entrant. PostgreSQL takes no lock."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from service.config import Settings
from service.store import StudyStore
from tests.factories import create_study, make_settings

ROOT = Path(__file__).resolve().parents[2]
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


# Another process's store: it creates a study and says how long that took.
_OTHER_PROCESS = """
import sys, time
from service.config import Settings
from service.store import StudyStore
from tests.factories import create_study
store = StudyStore(Settings(database_url=sys.argv[1], sqlite_busy_timeout_s=60))
print("ready", flush=True)
started = time.perf_counter()
create_study(store, name="from-another-process")
print(round(time.perf_counter() - started, 3), flush=True)
"""


def test_a_write_waits_while_another_process_holds_the_lock(sqlite_settings: Settings) -> None:
    store = _store(sqlite_settings)
    other = subprocess.Popen([sys.executable, "-c", _OTHER_PROCESS, sqlite_settings.database_url],
                             stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert other.stdout is not None
        with store.writing():
            assert other.stdout.readline().strip() == "ready"
            time.sleep(1.0)  # the other process's create waits this long for the lock
            assert store.list_studies() == []
        waited_s = float(other.stdout.readline())
        assert other.wait(60) == 0
        assert waited_s >= 0.5, f"the other process wrote after {waited_s} s, not waiting"
        assert [s.name for s in store.list_studies()] == ["from-another-process"]
    finally:
        other.kill()
        store.close()


def test_the_lock_is_reentrant_and_lets_others_in_once_left(sqlite_settings: Settings) -> None:
    store = _store(sqlite_settings)
    try:
        with store.writing(), store.writing():  # a write inside another, one thread
            create_study(store, name="nested")
        created = threading.Event()
        writer = threading.Thread(target=lambda: (create_study(store, name="after"),
                                                  created.set()))
        writer.start()
        assert created.wait(10), "the lock stayed held after the nested writes"
        writer.join(10)
        assert sorted(s.name for s in store.list_studies()) == ["after", "nested"]
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
