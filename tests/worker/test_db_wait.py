"""`rnntune serve` and `rnntune worker` started before the database accepts connections wait
for it (logged, with backoff) instead of exiting, then work normally."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from service.store import StudyStore
from tests.factories import create_study, make_settings, tiny_spec, wait_for
from tests.worker.test_db_faults import outage
from tests.worker.test_faults import free_port, serve, start_worker, wait_healthy


@pytest.mark.postgres
def test_serve_and_worker_wait_for_a_database_that_is_not_up_yet(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = make_settings(postgres_url, db_wait_s=90)
    port = free_port()
    with outage(settings):
        api = serve(settings, port, 0, tmp_path)
        worker = start_worker(settings, "early", tmp_path / "w")
        time.sleep(6)  # well past the old give-up point of about two seconds
        assert api.poll() is None and worker.poll() is None, "both still waiting"
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        store = StudyStore(settings)
        record = create_study(store, tiny_spec(budget={"n_trials": 2, "max_epochs": 1}))
        wait_for(lambda: store.get(record.id).status == "completed", timeout=120,
                 what="the study to complete")
        store.close()
    finally:
        for process in (worker, api):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def test_giving_up_is_bounded(tmp_path: Path) -> None:
    # A database that never comes: the wait ends after db_wait_s with the error.
    settings = make_settings("postgresql+psycopg://nobody@127.0.0.1:9/none", db_wait_s=2)
    started = time.monotonic()
    with pytest.raises(Exception, match=r"(?i)connect"):
        StudyStore(settings).initialize()
    assert time.monotonic() - started < 30
