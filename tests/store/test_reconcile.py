"""The sweep reconciles our rows with Optuna's studies and ends dead trials of stopped
studies."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from service.store import StudyStore
from tests.factories import create_study, make_stale, start_trial


def test_a_study_deleted_behind_the_services_back_is_failed_not_claimed(
    store: StudyStore,
) -> None:
    record = create_study(store, budget={"n_trials": 3, "max_epochs": 1})
    optuna.delete_study(study_name=record.name, storage=store.optuna_storage)
    store.sweep()
    failed = store.get(record.id)
    assert failed.status == "failed" and "outside the service" in (failed.stop_reason or "")
    assert store.claim() is None


def test_a_study_renamed_behind_the_services_back_is_failed(store: StudyStore) -> None:
    record = create_study(store, budget={"n_trials": 3, "max_epochs": 1})
    study = store.load_study(record)
    study.tell(study.ask(), 0.5)
    # A rename is a copy under a new id and name, then a delete (the dashboard's way).
    optuna.copy_study(from_study_name=record.name, from_storage=store.optuna_storage,
                      to_storage=store.optuna_storage, to_study_name="renamed")
    optuna.delete_study(study_name=record.name, storage=store.optuna_storage)
    store.sweep()
    store.sweep()
    assert store.get(record.id).status == "failed"
    names = [s.study_name for s in optuna.get_all_study_summaries(store.optuna_storage)]
    assert "renamed" in names, "a study the service does not own is left alone"


def test_an_optuna_study_left_by_a_crashed_create_is_removed(store: StudyStore) -> None:
    # The create died after Optuna's study and before our row.
    store.orphan_grace_s = 0.0
    optuna.create_study(study_name="half-created", storage=store.optuna_storage)
    store.sweep()  # a create in progress looks the same for a moment: seen once, kept
    names = [s.study_name for s in optuna.get_all_study_summaries(store.optuna_storage)]
    assert "half-created" in names
    store.sweep()
    assert optuna.get_all_study_summaries(store.optuna_storage) == []


def test_a_slow_create_is_not_taken_for_a_crashed_one(store: StudyStore) -> None:
    # A create on a loaded machine can span several sweeps between Optuna's study and our
    # row: within the grace period the study stays, however many sweeps see it.
    optuna.create_study(study_name="being-created", storage=store.optuna_storage)
    for _ in range(3):
        store.sweep()
    names = [s.study_name for s in optuna.get_all_study_summaries(store.optuna_storage)]
    assert names == ["being-created"]


def test_a_cancelled_studys_dead_trial_is_ended(store: StudyStore) -> None:
    record = create_study(store, budget={"n_trials": 2, "max_epochs": 2})
    _, number = start_trial(store, record)
    store.cancel(record.id)
    make_stale(store, record, number)  # its worker died after the cancel
    store.sweep()
    [trial] = store.trials(record)
    assert trial.state == TrialState.FAIL
