"""Contract suite of StudyStore, run against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import optuna
import pytest
from sqlalchemy import inspect, text, update

from service.config import Settings
from service.errors import ConflictError, NotFoundError
from service.store import StudyStore, utcnow
from service.store._migrate import current_revision, head_revision
from service.store._tables import studies
from tests.factories import age_claims, create_study


def test_create_get_list(store: StudyStore) -> None:
    record = create_study(store, name="first")
    assert store.get(record.id).name == "first"
    assert record.status == "queued" and record.claimed == 0
    assert [r.name for r in store.list_studies()] == ["first"]
    optuna_study = optuna.load_study(study_name="first", storage=store.optuna_storage)
    assert optuna_study.user_attrs["task"] == "adding"
    assert optuna_study.direction == optuna.study.StudyDirection.MINIMIZE


def test_create_returns_the_study_as_stored(store: StudyStore) -> None:
    record = create_study(store, name="returned", tags=["x"],
                          budget={"n_trials": 4, "max_epochs": 2, "timeout_s": 600})
    assert record == store.get(record.id)
    assert record.deadline is not None and record.baselines and record.spec["tags"] == ["x"]


def test_duplicate_name_is_a_conflict_and_creates_nothing(store: StudyStore) -> None:
    create_study(store, name="same")
    with pytest.raises(ConflictError, match="same"):
        create_study(store, name="same")
    assert len(store.list_studies()) == 1
    assert len(optuna.get_all_study_names(storage=store.optuna_storage)) == 1


def test_optuna_reads_the_created_study_as_its_own(store: StudyStore) -> None:
    """The store writes Optuna's study, directions and attributes in its own transaction."""
    record = create_study(store, name="multi", also_minimize=["params"])
    study = optuna.load_study(study_name="multi", storage=store.optuna_storage)
    assert study._study_id == record.id
    assert study.directions == [optuna.study.StudyDirection.MINIMIZE] * 2
    assert study.metric_names == ["val_loss", "params"]
    assert store.optuna_storage.get_study_id_from_name("multi") == record.id
    maximized = create_study(store, name="accuracy", objective={"metric": "val_accuracy"},
                             task={"name": "japanese_vowels"})
    assert optuna.load_study(study_name="accuracy", storage=store.optuna_storage).direction \
        == optuna.study.StudyDirection.MAXIMIZE
    assert maximized.id != record.id


def test_a_name_taken_in_optunas_tables_alone_is_a_conflict_and_creates_nothing(
    store: StudyStore,
) -> None:
    optuna.create_study(study_name="outside", storage=store.optuna_storage)
    with pytest.raises(ConflictError, match="outside"):
        create_study(store, name="outside")
    assert store.list_studies() == []
    assert optuna.get_all_study_names(storage=store.optuna_storage) == ["outside"]
    with store.engine.connect() as conn:  # nothing of the refused study's left behind
        assert conn.execute(text("SELECT count(*) FROM study_directions")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM study_user_attributes")).scalar_one() == 0


def test_unknown_study_is_not_found(store: StudyStore) -> None:
    with pytest.raises(NotFoundError, match="999"):
        store.get(999)


def test_claims_never_exceed_the_budget_under_contention(store: StudyStore) -> None:
    record = create_study(store, budget={"n_trials": 5, "max_epochs": 1})
    with ThreadPoolExecutor(max_workers=8) as pool:
        claims = list(pool.map(lambda _: store.claim(), range(20)))
    granted = [c for c in claims if c is not None]
    assert len(granted) == 5
    assert sorted(c.slot for c in granted) == [0, 1, 2, 3, 4]
    assert store.get(record.id).status == "running"


def test_claims_round_robin_between_studies(store: StudyStore) -> None:
    a = create_study(store, name="a", budget={"n_trials": 10, "max_epochs": 1})
    b = create_study(store, name="b", budget={"n_trials": 10, "max_epochs": 1})
    order = []
    for _ in range(6):
        claim = store.claim()
        assert claim is not None
        order.append(claim.study.id)
    assert order.count(a.id) == 3 and order.count(b.id) == 3
    assert all(x != y for x, y in itertools.pairwise(order))


def test_cancel_stops_claims_and_cannot_repeat(store: StudyStore) -> None:
    record = create_study(store)
    assert store.cancel(record.id).status == "cancelled"
    assert store.claim() is None
    with pytest.raises(ConflictError, match="cancelled"):
        store.cancel(record.id)


def test_deadline_stops_claims_and_completes_the_study(store: StudyStore) -> None:
    record = create_study(store, budget={"n_trials": 5, "max_epochs": 1, "timeout_s": 60})
    with store.engine.begin() as conn:
        conn.execute(update(studies).where(studies.c.id == record.id)
                     .values(deadline=utcnow() - timedelta(seconds=1)))
    assert store.claim() is None
    refreshed = store.refresh_status(record.id)
    assert (refreshed.status, refreshed.stop_reason) == ("completed", "timeout")


def test_study_completes_when_budget_is_finished(store: StudyStore) -> None:
    record = create_study(store, budget={"n_trials": 2, "max_epochs": 1})
    study = store.load_study(record)
    for value in (0.5, 0.25):
        claim = store.claim()
        assert claim is not None
        trial = study.ask()
        study.tell(trial, value)
        assert store.refresh_status(record.id).status in ("running", "completed")
    assert store.claim() is None
    final = store.get(record.id)
    assert (final.status, final.stop_reason) == ("completed", "budget")


def test_a_completing_study_settles_its_slot_counters(store: StudyStore) -> None:
    record = create_study(store, budget={"n_trials": 2, "max_epochs": 1})
    study = store.load_study(record)
    claims = [store.claim(), store.claim()]
    # A repair mid-run counted a redeemed claim twice: one slot and one trial in flight too many.
    with store.engine.begin() as conn:
        conn.execute(update(studies).where(studies.c.id == record.id)
                     .values(claimed=studies.c.claimed + 1, in_flight=studies.c.in_flight + 1))
    for claim, value in zip(claims, (0.5, 0.25), strict=True):
        assert claim is not None and store.redeem(claim)
        study.tell(study.ask(), value)
        store.trial_ended(record.id)
    off = store.get(record.id)
    assert (off.claimed, off.in_flight) == (3, 1), "the counters the run left"
    final = store.refresh_status(record.id)
    assert final.status == "completed"
    assert (final.claimed, final.in_flight) == (2, 0)


def test_sweep_repairs_a_slot_leaked_by_a_dead_worker(store: StudyStore) -> None:
    record = create_study(store, budget={"n_trials": 1, "max_epochs": 1})
    assert store.claim() is not None  # the claimer dies before it asks for a trial
    assert store.claim() is None
    store.sweep()
    assert store.get(record.id).claimed == 1, "a young claim is live"
    age_claims(store, record)
    store.sweep()
    assert store.get(record.id).claimed == 0
    assert store.claim() is not None


def test_delete_removes_study_trials_and_row(store: StudyStore) -> None:
    record = create_study(store, name="gone")
    study = store.load_study(record)
    study.tell(study.ask(), 1.0)
    store.delete(record.id)
    with pytest.raises(NotFoundError):
        store.get(record.id)
    assert optuna.get_all_study_names(storage=store.optuna_storage) == []


def test_service_tables_sit_beside_optunas_with_their_own_prefix(store: StudyStore) -> None:
    tables = set(inspect(store.engine).get_table_names())
    ours = {t for t in tables if t.startswith("rnntune_")}
    assert {"rnntune_studies", "rnntune_checkpoints", "rnntune_api_keys",
            "rnntune_alembic_version"} <= ours
    assert {"studies", "trials", "trial_values", "alembic_version"} <= tables
    with store.engine.connect() as conn:
        optuna_version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        our_version = conn.exec_driver_sql(
            "SELECT version_num FROM rnntune_alembic_version").scalar()
    assert optuna_version == store.optuna_storage.get_current_version()
    assert our_version == head_revision()
    # Our indexes on Optuna's trials table (counts by state, pages by number) carry our prefix.
    indexes = {i["name"] for i in inspect(store.engine).get_indexes("trials")}
    assert {"rnntune_ix_trials_study_state", "rnntune_ix_trials_study_number"} <= indexes


def test_upgrade_is_idempotent_and_safe_from_many_processes_at_once(
    any_settings: Settings,
) -> None:
    import subprocess
    import sys

    from service.worker import worker_env

    code = ("from service.config import Settings; from service.store import StudyStore; "
            "StudyStore(Settings()).initialize()")
    env = worker_env(any_settings, device="cpu")
    processes = [subprocess.Popen([sys.executable, "-c", code], env=env,
                                  stderr=subprocess.PIPE) for _ in range(4)]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
    store = StudyStore(any_settings)
    store.initialize()
    assert current_revision(store.engine) == head_revision()
    store.close()


def test_higher_priority_studies_are_served_first(store: StudyStore) -> None:
    low = create_study(store, name="low", budget={"n_trials": 5, "max_epochs": 1})
    high = create_study(store, name="high", priority=5, budget={"n_trials": 2, "max_epochs": 1})
    order = []
    for _ in range(4):
        claim = store.claim()
        assert claim is not None
        order.append(claim.study.id)
    assert order == [high.id, high.id, low.id, low.id]


def test_max_parallel_bounds_trials_in_flight(store: StudyStore) -> None:
    record = create_study(store, max_parallel=1, budget={"n_trials": 3, "max_epochs": 1})
    assert store.claim() is not None
    assert store.claim() is None, "a second trial must wait for the first"
    store.trial_ended(record.id)
    claim = store.claim()
    assert claim is not None and claim.slot == 1
    assert store.get(record.id).in_flight == 1


def test_a_locked_database_is_waited_out_not_reported(tmp_path: Any) -> None:
    import sqlite3
    import threading
    import time

    from tests.factories import make_settings

    settings = make_settings(f"sqlite:///{tmp_path / 'locked.db'}", sqlite_busy_timeout_s=1)
    store = StudyStore(settings)
    store.initialize()
    create_study(store)
    holder = sqlite3.connect(tmp_path / "locked.db", check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock for 2.5 s
    release = threading.Timer(2.5, holder.commit)
    release.start()
    started = time.monotonic()
    try:
        claim = store.claim()
    finally:
        release.join()
        holder.close()
    assert claim is not None, "the claim went through once the lock was released"
    assert time.monotonic() - started >= 2.0
    store.close()


def test_sql_summaries_agree_with_counting_the_trials(store: StudyStore) -> None:
    from optuna.trial import TrialState

    from service.store import best_trial, count_trials
    from service.store._stale import requeue

    record = create_study(store, budget={"n_trials": 10, "max_epochs": 2},
                    search_space={"params": {"cell": {"type": "categorical",
                                                      "choices": ["gru", "lstm"]},
                                             "lr": {"type": "float", "low": 1e-3,
                                                    "high": 1e-1, "log": True}}})
    empty = create_study(store, name="empty")
    study = store.load_study(record)
    for value in (0.5, 0.2, 0.9):
        trial = study.ask()
        trial.suggest_categorical("cell", ["gru", "lstm"])
        trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        study.tell(trial, value)
    pruned = study.ask()
    pruned.report(1.0, 1)
    study.tell(pruned, state=TrialState.PRUNED)
    failed = study.ask()
    failed.suggest_float("lr", 1e-3, 1e-1, log=True)
    study.tell(failed, state=TrialState.FAIL)
    requeue(study, study.trials[failed.number])  # a retried failure, waiting
    study.tell(study.ask(), state=TrialState.FAIL)  # a final failure
    study.ask()  # running
    summaries = store.summaries([record, empty])
    trials = store.trials(record)
    assert summaries[record.id].counts == count_trials(trials)
    best = best_trial(record, trials)
    assert best is not None and summaries[record.id].best is not None
    assert summaries[record.id].best.number == best.number
    assert summaries[record.id].best.params == best.params
    assert summaries[empty.id].best is None and summaries[empty.id].counts.finished == 0


def test_a_database_of_another_optuna_schema_is_refused(any_settings: Settings) -> None:
    first = StudyStore(any_settings)
    first.initialize()
    with first.engine.begin() as conn:  # as an older Optuna left it
        conn.execute(text("UPDATE alembic_version SET version_num = 'v3.0.0.a'"))
    first.close()
    with pytest.raises(RuntimeError, match="optuna storage upgrade"):
        StudyStore(any_settings).initialize()
