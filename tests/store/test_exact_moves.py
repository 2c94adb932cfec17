"""Trial state moves under races: a missing first heartbeat, a lock held while a trial is
finished or failed, claims judged by the database's clock."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy import event, text, update

from service.config import Settings
from service.store import StudyStore, count_trials, engine_kwargs, utcnow
from service.store._counts import REQUEUE_ATTR
from service.store._tables import studies
from tests.factories import (
    age_claims,
    assert_counters_exact,
    create_study,
    make_settings,
    make_stale,
    start_trial,
)


def trial_id_of(store: StudyStore, record: Any, number: int) -> int:
    return store.optuna_storage.get_trial_id_from_study_id_trial_number(record.id, number)


def test_a_trial_has_a_heartbeat_from_the_moment_it_starts(store: StudyStore) -> None:
    record = create_study(store, budget={"n_trials": 4, "max_epochs": 2})
    study = store.load_study(record)
    fresh = study.ask()
    store.enqueue(record, {"lr": 0.01}, source="test")
    queued = study.ask()  # a WAITING trial started by a worker
    with store.engine.connect() as conn:
        beating = set(conn.execute(text("SELECT trial_id FROM trial_heartbeats")).scalars())
    assert {fresh._trial_id, queued._trial_id} <= beating


def test_the_heartbeat_threads_first_beat_after_the_start_costs_no_statement(
    store: StudyStore,
) -> None:
    # Optuna's thread beats as the trial starts, just after its creation beat: on a worker's
    # one pooled connection, that beat and the worker's first writes opened a second.
    record = create_study(store, budget={"n_trials": 4, "max_epochs": 2})
    study = store.load_study(record)
    trial = study.ask()
    storage = store.optuna_storage
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(storage.engine, "before_cursor_execute", seen)
    try:
        storage.record_heartbeat(trial._trial_id)  # the thread's first beat: skipped
        assert statements == []
        other = study.ask()
        statements.clear()
        storage.record_heartbeat(trial._trial_id)  # another trial beat since: written
        assert any("trial_heartbeats" in s for s in statements)
        time.sleep(0.6)
        statements.clear()
        storage.record_heartbeat(other._trial_id)  # a regular beat, seconds apart: written
        assert any("trial_heartbeats" in s for s in statements)
        store.enqueue(record, {"lr": 0.01}, source="test")
        queued = study.ask()  # a WAITING trial started: its first beat goes with the start
        statements.clear()
        storage.record_heartbeat(queued._trial_id)
        assert statements == []
    finally:
        event.remove(storage.engine, "before_cursor_execute", seen)


@pytest.mark.postgres
def test_a_beat_waits_a_moment_for_the_workers_connection_instead_of_opening_another(
    postgres_url: str,
) -> None:
    from service.worker._store import WorkerStore

    store = WorkerStore(make_settings(postgres_url))
    store.initialize()
    record = create_study(store, budget={"n_trials": 4, "max_epochs": 2})
    trial = store.load_study(record).ask()
    time.sleep(0.6)  # past the creation beat
    pool = store.engine.pool
    beat = threading.Thread(target=store.optuna_storage.record_heartbeat,
                            args=(trial._trial_id,))
    with store.engine.connect() as held:  # the trial's own statement, under way
        held.execute(text("SELECT 1"))
        beat.start()
        time.sleep(0.3)
        assert beat.is_alive() and pool.checkedout() == 1, "the beat opened a connection"
    beat.join(5)
    assert not beat.is_alive()
    with store.engine.connect() as conn:
        beaten = conn.execute(text("SELECT count(*) FROM trial_heartbeats WHERE trial_id = "
                                   ":id AND heartbeat > LOCALTIMESTAMP - interval '1 second'"),
                              {"id": trial._trial_id}).scalar()
    assert beaten == 1
    store.close()


def test_a_running_trial_that_never_beat_is_failed_and_retried(store: StudyStore) -> None:
    # Its worker died after Optuna marked it RUNNING and before any beat was written (say,
    # killed while waiting on the write lock): without a heartbeat row Optuna never calls it
    # stale, and the budget would never fill.
    record = create_study(store, budget={"n_trials": 1, "max_epochs": 2})
    study, number = start_trial(store, record)
    trial_id = trial_id_of(store, record, number)
    past = ("datetime('now', '-60 seconds')" if store.settings.is_sqlite
            else "LOCALTIMESTAMP - interval '60 seconds'")
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM trial_heartbeats WHERE trial_id = :id"), {"id": trial_id})
        conn.execute(text(f"UPDATE trials SET datetime_start = {past} WHERE trial_id = :id"),
                     {"id": trial_id})
    assert store.optuna_storage.stale_trial_ids(record.id) == [trial_id]
    assert store.fail_stale_trials(study) == [number]
    states = [t.state for t in store.trials(record)]
    assert states == [TrialState.FAIL, TrialState.WAITING]


def test_a_young_trial_without_a_beat_is_left_alone(store: StudyStore) -> None:
    record = create_study(store, budget={"n_trials": 1, "max_epochs": 2})
    study, _ = start_trial(store, record)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM trial_heartbeats"))
    assert store.fail_stale_trials(study) == []


class LockHolder:
    """Another process's write transaction on the SQLite file, held until released."""

    def __init__(self, settings: Settings) -> None:
        path = settings.database_url.removeprefix("sqlite:///")
        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self, *statements: str) -> None:
        for statement in statements:
            self.conn.execute(statement)
        self.conn.execute("COMMIT")
        self.conn.close()


def in_thread(func: Any) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(func())
        except Exception as error:
            outcome.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def test_a_complete_waiting_on_the_lock_cannot_overwrite_a_stale_fail(
    sqlite_settings: Settings,
) -> None:
    # The worker reads RUNNING, then waits on the write lock; meanwhile another process
    # fails the trial as stale (and re-queues it). The COMPLETE must not land: both the
    # retry and this trial would count.
    store = StudyStore(sqlite_settings)
    store.initialize()
    record = create_study(store, budget={"n_trials": 1, "max_epochs": 2})
    _, number = start_trial(store, record)
    trial_id = trial_id_of(store, record, number)
    holder = LockHolder(sqlite_settings)
    thread, outcome = in_thread(lambda: store.optuna_storage.set_trial_state_values(
        trial_id, TrialState.COMPLETE, [0.25]))
    time.sleep(0.5)  # the worker is now waiting for the lock
    holder.commit(f"UPDATE trials SET state = 'FAIL' WHERE trial_id = {trial_id}")
    thread.join(timeout=30)
    assert isinstance(outcome[0], optuna.exceptions.UpdateFinishedTrialError)
    [trial] = store.trials(record)
    assert trial.state == TrialState.FAIL and trial.values is None
    store.close()


def test_a_trial_that_beats_while_the_failer_waits_on_the_lock_is_not_failed(
    sqlite_settings: Settings,
) -> None:
    # The failer saw a stale heartbeat, then waited on the lock while the live worker
    # finally wrote its beat: the FAIL re-checks the age in its own statement.
    store = StudyStore(sqlite_settings)
    store.initialize()
    record = create_study(store, budget={"n_trials": 1, "max_epochs": 2})
    _, number = start_trial(store, record)
    make_stale(store, record, number)
    trial_id = trial_id_of(store, record, number)
    failer = StudyStore(sqlite_settings)
    holder = LockHolder(sqlite_settings)
    thread, outcome = in_thread(lambda: failer.fail_stale_trials(failer.load_study(record)))
    time.sleep(0.7)  # the failer has read the stale heartbeat and waits for the lock
    holder.commit("UPDATE trial_heartbeats SET heartbeat = CURRENT_TIMESTAMP "
                  f"WHERE trial_id = {trial_id}")
    thread.join(timeout=30)
    failer.close()
    assert outcome == [[]]
    [trial] = store.trials(record)
    assert trial.state == TrialState.RUNNING and REQUEUE_ATTR not in trial.system_attrs
    assert_counters_exact(store, record.id)
    store.close()


def test_the_sqlite_busy_timeout_stays_below_grace_minus_one_heartbeat(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    defaults = Settings(database_url=url)
    assert defaults.sqlite_busy_timeout < defaults.grace_period_s - defaults.heartbeat_interval_s
    asked = make_settings(url, sqlite_busy_timeout_s=60, grace_period_s=12,
                          heartbeat_interval_s=4)
    timeout = engine_kwargs(asked)["connect_args"]["timeout"]
    assert 0 < timeout < 12 - 4


def test_a_claim_is_judged_by_the_database_clock_and_tied_to_its_trial(
    store: StudyStore,
) -> None:
    record = create_study(store, budget={"n_trials": 1, "max_epochs": 2})
    slow = store.claim()
    assert slow is not None
    store.sweep()
    assert store.get(record.id).claimed == 1, "a young claim keeps its slot"
    age_claims(store, record)  # its worker looked dead for a whole grace period
    store.sweep()
    assert store.get(record.id).claimed == 0
    fresh = store.claim()
    assert fresh is not None
    assert not store.redeem(slow), "the dropped claim cannot start a trial any more"
    assert store.redeem(fresh)
    counts = count_trials(store.trials(record))
    assert counts.finished == 0


@pytest.mark.parametrize("skew_s", [-3600, 3600])
def test_the_repair_ignores_the_sweeping_hosts_clock(store: StudyStore, skew_s: int) -> None:
    # The round-robin stamp is the claiming host's clock; it has no say in the repair.
    record = create_study(store, budget={"n_trials": 1, "max_epochs": 2})
    assert store.claim() is not None
    with store.engine.begin() as conn:
        conn.execute(update(studies).where(studies.c.id == record.id)
                     .values(last_claim_at=utcnow() + timedelta(seconds=skew_s)))
    store.sweep()
    assert store.get(record.id).claimed == 1
