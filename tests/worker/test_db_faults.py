"""Database faults inside a trial: an outage mid-trial hands it back with its checkpoint, and a
claim that expired before its trial started gives the trial back instead of counting it."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from optuna.trial import TrialState

from service.config import Settings
from service.store import StudyStore, count_trials
from service.worker import Worker
from tests.conftest import POSTGRES_ADMIN_URL
from tests.factories import (
    assert_counters_exact,
    create_study,
    make_settings,
    slow_spec,
    tiny_spec,
    wait_for,
)
from tests.store.test_exact_moves import LockHolder
from tests.store.test_study_store import age_claims
from tests.worker.test_faults import epochs_reported, start_worker


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def patient_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The default grace period, twice the outage: only the trial's own writes notice it."""
    url = (f"sqlite:///{tmp_path / 'rnntune.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    return make_settings(url, grace_period_s=40, sqlite_busy_timeout_s=1)


@contextmanager
def outage(settings: Settings) -> Iterator[None]:
    """The database refuses every write (SQLite: another process holds the lock) or every
    connection (PostgreSQL: this test's database stops accepting them, current ones cut)."""
    if settings.is_sqlite:
        holder = LockHolder(settings)
        try:
            yield
        finally:
            holder.commit()
        return
    name = settings.database_url.rsplit("/", 1)[1]
    admin = POSTGRES_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        try:
            yield
        finally:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def test_an_outage_mid_trial_hands_it_back_to_resume_from_its_checkpoint(
    patient_settings: Settings, tmp_path: Path
) -> None:
    store = StudyStore(patient_settings)
    store.initialize()
    record = create_study(store, slow_spec(budget={"n_trials": 1, "max_epochs": 6}))
    worker = start_worker(patient_settings, "w", tmp_path / "w")
    try:
        wait_for(lambda: epochs_reported(store, record, 2), timeout=120,
                 what="two epochs to be reported")
        store.close()  # its own connections would be cut too
        with outage(patient_settings):
            time.sleep(20)  # far longer than the per-write retries (about 8 s)
        wait_for(lambda: store.get(record.id).status == "completed", timeout=180,
                 what="the study to complete after the outage")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    trials = store.trials(record)
    counts = count_trials(trials)
    assert (counts.finished, counts.complete, counts.running, counts.waiting) == (1, 1, 0, 0)
    assert counts.fail == counts.retried >= 1, "the outage cost no counted failure"
    done = next(t for t in trials if t.state == TrialState.COMPLETE)
    assert done.user_attrs.get("resumed_from_epoch", 0) >= 1, "resumed from its checkpoint"
    assert store.checkpoints.count(record.id) == 0
    assert_counters_exact(store, record.id)
    store.close()


def test_a_trial_whose_claim_expired_is_given_back_uncounted(store: StudyStore) -> None:
    # The worker took longer than the grace period to start (a slow data set parse, a long
    # lock wait): the sweep gave its slot to another worker meanwhile.
    record = create_study(store, tiny_spec(budget={"n_trials": 1, "max_epochs": 1}))
    slow = Worker(store.settings, worker_id="slow", device="cpu")
    claim = slow.store.claim()
    assert claim is not None
    age_claims(store, record)
    store.sweep()
    assert store.claim() is not None, "the slot went to another worker"
    slow._run_trial(claim)
    slow.store.close()
    trials = store.trials(record)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    counts = count_trials(trials)
    assert (counts.finished, counts.retried) == (0, 1)
    assert store.get(record.id).claimed == 1
    assert_counters_exact(store, record.id)
