"""Trials of dead workers are failed and re-run once, and the budget never counts a failure that
is about to be re-run (not even in the moment between the failure and its re-queue); a queued
trial is started by one worker only."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from optuna.trial import TrialState
from sqlalchemy import text

from service.config import Settings
from service.store import StudyStore, count_trials
from service.store._counts import REQUEUE_ATTR
from tests.factories import (
    age_claims,
    assert_counters_exact,
    create_study,
    make_stale,
    start_trial,
)


def test_a_stale_trial_is_failed_and_requeued_with_its_slot(store: StudyStore) -> None:
    record = create_study(store, budget={"n_trials": 1, "max_epochs": 2})
    study, number = start_trial(store, record)
    make_stale(store, record, number)
    assert store.fail_stale_trials(study) == [number]
    failed, retry = store.trials(record)
    assert (failed.state, retry.state) == (TrialState.FAIL, TrialState.WAITING)
    assert failed.system_attrs[REQUEUE_ATTR] is True
    assert REQUEUE_ATTR not in retry.system_attrs
    assert retry.params == failed.params and retry.system_attrs["retry_history"] == [number]
    assert retry.intermediate_values == {1: 0.5}
    counts = count_trials(store.trials(record))
    assert (counts.finished, counts.retried, counts.waiting) == (0, 1, 1)
    assert store.summaries([record])[record.id].counts == counts
    assert store.refresh_status(record.id).status == "running"
    assert store.get(record.id).claimed == 0, "the slot went to the retry"
    assert store.fail_stale_trials(study) == [], "a trial is failed once"


def test_a_failure_marked_for_requeue_is_never_counted_as_done(store: StudyStore) -> None:
    # The process that failed the trial died before it could re-queue it: the study must
    # not complete on a budget that counts the failure, and the sweep frees its slot.
    record = create_study(store, budget={"n_trials": 1, "max_epochs": 2})
    _, number = start_trial(store, record)
    store.mark_requeue(record.id, number)
    storage = store.optuna_storage
    storage.set_trial_state_values(
        storage.get_trial_id_from_study_id_trial_number(record.id, number), TrialState.FAIL)
    counts = store.summaries([record])[record.id].counts
    assert counts == count_trials(store.trials(record))
    assert (counts.fail, counts.retried, counts.finished) == (1, 1, 0)
    assert store.refresh_status(record.id).status == "running"
    assert store.claim() is None  # the slot is still held ...
    age_claims(store, record)
    store.sweep()  # ... until the sweep sees that no trial uses it
    assert store.get(record.id).status == "running"
    assert store.claim() is not None


def test_out_of_retries_the_failure_counts_and_the_study_completes(
    any_settings: Settings,
) -> None:
    store = StudyStore(any_settings.model_copy(update={"max_trial_retries": 0}))
    store.initialize()
    record = create_study(store, budget={"n_trials": 1, "max_epochs": 2})
    study, number = start_trial(store, record)
    make_stale(store, record, number)
    assert store.fail_stale_trials(study) == [number]
    [failed] = store.trials(record)
    assert failed.state == TrialState.FAIL and REQUEUE_ATTR not in failed.system_attrs
    assert store.refresh_status(record.id).status == "completed"
    assert_counters_exact(store, record.id)
    store.close()


def test_processes_racing_on_one_stale_trial_requeue_it_once(
    store: StudyStore, any_settings: Settings
) -> None:
    record = create_study(store, budget={"n_trials": 1, "max_epochs": 2})
    _, number = start_trial(store, record)
    make_stale(store, record, number)
    racers = [StudyStore(any_settings) for _ in range(4)]
    try:
        with ThreadPoolExecutor(len(racers)) as pool:
            results = list(pool.map(lambda s: s.fail_stale_trials(s.load_study(record)),
                                    racers))
    finally:
        for racer in racers:
            racer.close()
    assert sorted(map(len, results)) == [0, 0, 0, 1]
    states = [t.state for t in store.trials(record)]
    assert states == [TrialState.FAIL, TrialState.WAITING]
    assert store.get(record.id).claimed == 0
    assert_counters_exact(store, record.id)


def test_a_heartbeat_that_cannot_be_written_is_logged_not_raised(
    sqlite_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # Optuna's heartbeat thread ends at its first exception; a live trial would then be
    # failed as stale after the grace period.
    store = StudyStore(sqlite_settings)
    store.initialize()
    record = create_study(store)
    _, number = start_trial(store, record)
    trial_id = store.optuna_storage.get_trial_id_from_study_id_trial_number(record.id, number)
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE trial_heartbeats"))
    time.sleep(0.6)  # a beat sooner after the start's own beat is skipped, not tried
    with caplog.at_level(logging.WARNING):
        store.optuna_storage.record_heartbeat(trial_id)
    assert f"heartbeat of trial {trial_id} not recorded" in caplog.text
    store.close()


def test_workers_racing_for_one_queued_trial_start_it_once(
    store: StudyStore, any_settings: Settings
) -> None:
    record = create_study(store, budget={"n_trials": 8, "max_epochs": 2})
    store.enqueue(record, {"lr": 0.0123}, source="test")
    racers = [StudyStore(any_settings) for _ in range(4)]

    def ask(racer: StudyStore) -> float:
        trial = racer.load_study(record).ask()
        return trial.suggest_float("lr", 1e-3, 1e-1, log=True)

    try:
        with ThreadPoolExecutor(len(racers)) as pool:
            drawn = list(pool.map(ask, racers))
    finally:
        for racer in racers:
            racer.close()
    assert drawn.count(0.0123) == 1, drawn
    trials = store.trials(record)
    assert len(trials) == 4 and all(t.state == TrialState.RUNNING for t in trials)
    assert_counters_exact(store, record.id)


def test_a_sweep_between_a_stale_trials_failure_and_its_slot_leaves_no_slot_spare(
    store: StudyStore,
) -> None:
    record = create_study(store, budget={"n_trials": 3, "max_epochs": 2})
    start_trial(store, record)  # another worker's trial, alive: it keeps its slot
    study, number = start_trial(store, record)
    make_stale(store, record, number)
    assert store.get(record.id).claimed == 2
    storage = store.optuna_storage
    fail = storage.fail_if_stale

    def fail_then_sweep(*args: object, **kwargs: object) -> bool:
        moved = fail(*args, **kwargs)  # type: ignore[arg-type]
        store.repair_slots(record.id)  # the API's sweep, right after the failure's commit
        return moved

    storage.fail_if_stale = fail_then_sweep  # type: ignore[method-assign]
    try:
        assert store.fail_stale_trials(study) == [number]
    finally:
        del storage.fail_if_stale
    # Taking one more off after the sweep's repair left 0: a slot beyond the budget, which a
    # worker took while the failed trial's retry still waited.
    assert store.get(record.id).claimed == 1, "the live trial's slot, and only it"
    assert_counters_exact(store, record.id)
