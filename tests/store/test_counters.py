"""A study's counters row stays equal to a full recount through every move the service makes
(ask, tell, enqueue, start, stale fail, mark, re-queue), under concurrent movers, and the
repair rebuilds it exactly, also while trials keep moving."""

from __future__ import annotations

import dataclasses
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy import text

from service.config import Settings
from service.specs import parse_spec_mapping
from service.store import StudyStore
from service.tuning import resolve_spec
from tests.factories import (
    assert_counters_exact,
    create_study,
    make_stale,
    start_trial,
    tiny_spec,
)


def tell(store: StudyStore, record: Any, number: int, state: TrialState,
         value: float | None = None) -> None:
    study = store.load_study(record)
    study.tell(number, value if state == TrialState.COMPLETE else None, state=state)


def assert_numbered_in_creation_order(store: StudyStore, study_id: int) -> None:
    """Trial numbers are 0, 1, 2, ... with none repeated, each the count of the study's
    trials created before it (Optuna's definition), whoever created them and how."""
    with store.engine.connect() as conn:
        numbers = list(conn.execute(text("SELECT number FROM trials WHERE study_id = :s "
                                         "ORDER BY trial_id"), {"s": study_id}).scalars())
    assert numbers == list(range(len(numbers)))


def test_every_move_keeps_the_counters_exact(store: StudyStore) -> None:
    record = create_study(store, budget={"n_trials": 20, "max_epochs": 2})
    assert_counters_exact(store, record.id)
    study, first = start_trial(store, record)
    assert_counters_exact(store, record.id)  # asked: running
    tell(store, record, first, TrialState.COMPLETE, 0.3)
    assert_counters_exact(store, record.id)  # told: complete, and the best
    _, pruned = start_trial(store, record)
    tell(store, record, pruned, TrialState.PRUNED)
    _, failed = start_trial(store, record)
    tell(store, record, failed, TrialState.FAIL)
    assert_counters_exact(store, record.id)
    store.enqueue(record, {"lr": 0.02}, source="test")
    assert_counters_exact(store, record.id)  # queued: waiting
    queued = study.ask()  # a worker starts the queued trial
    assert queued.suggest_float("lr", 1e-3, 1e-1, log=True) == 0.02
    assert_counters_exact(store, record.id)
    tell(store, record, queued.number, TrialState.COMPLETE, 0.1)  # the new best
    _, tie = start_trial(store, record)
    tell(store, record, tie, TrialState.COMPLETE, 0.1)  # a tie keeps the earlier trial
    _, infinite = start_trial(store, record)
    tell(store, record, infinite, TrialState.COMPLETE, float("inf"))  # never the best
    assert_counters_exact(store, record.id)
    summary = store.summaries([record])[record.id]
    assert summary.best is not None
    assert (summary.best.number, summary.best.value) == (queued.number, 0.1)
    assert summary.best.params == {"lr": 0.02}
    # A dead worker's trial: failed as stale and re-queued, then the retry fails as stale
    # too and is re-queued again (a lineage of three).
    _, stale = start_trial(store, record)
    make_stale(store, record, stale)
    assert store.fail_stale_trials(study) == [stale]
    assert_counters_exact(store, record.id)
    retry = study.ask()
    make_stale(store, record, retry.number)
    assert store.fail_stale_trials(study) == [retry.number]
    assert_counters_exact(store, record.id)
    # A graceful stop: marked, failed by tell, handed back.
    _, handed = start_trial(store, record)
    store.mark_requeue(record.id, handed)
    assert_counters_exact(store, record.id)
    tell(store, record, handed, TrialState.FAIL)
    assert_counters_exact(store, record.id)
    store.hand_back(study, handed)
    assert_numbered_in_creation_order(store, record.id)
    assert_counters_exact(store, record.id)
    counts = store.summaries([record])[record.id].counts
    # The hand-back's trial was the second retry (a worker takes waiting trials first).
    assert (counts.fail, counts.retried, counts.waiting) == (4, 3, 1)
    assert counts.finished == counts.complete + counts.pruned + 1
    assert store.kept_counters(record.id).links[handed] == study.trials[-1].number


def test_a_maximized_study_keeps_its_largest_value(store: StudyStore) -> None:
    spec = parse_spec_mapping(tiny_spec(budget={"n_trials": 5, "max_epochs": 2}))
    resolved = resolve_spec(spec, spaces_dir=store.settings.search_spaces_dir)
    # Any direction, whatever the metric's natural one: the values are told by hand below.
    record = store.create(dataclasses.replace(resolved, direction="maximize"))
    for value in (0.2, 0.7, 0.5):
        _, number = start_trial(store, record)
        tell(store, record, number, TrialState.COMPLETE, value)
    best = store.summaries([record])[record.id].best
    assert best is not None and (best.number, best.value) == (1, 0.7)
    assert_counters_exact(store, record.id)


def test_the_repair_rebuilds_counters_that_are_off_or_missing(store: StudyStore) -> None:
    record = create_study(store, budget={"n_trials": 10, "max_epochs": 2})
    study, number = start_trial(store, record)
    tell(store, record, number, TrialState.COMPLETE, 0.4)
    _, stale = start_trial(store, record)
    make_stale(store, record, stale)
    store.fail_stale_trials(study)
    assert store.repair_counters(record.id) is False, "nothing was off"
    with store.engine.begin() as conn:  # as if moved behind the service's back
        conn.execute(text("UPDATE rnntune_study_counters SET complete = 7, retried = 0, "
                          "best_value = NULL, best_number = NULL, best_trial_id = NULL"))
        conn.execute(text("DELETE FROM rnntune_retry_links"))
    assert store.repair_counters(record.id) is True
    assert_counters_exact(store, record.id)
    # A study from before the table existed has no row: the read path counts it once ...
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM rnntune_study_counters"))
        conn.execute(text("DELETE FROM rnntune_retry_links"))
    assert store.summaries([record])[record.id].counts.complete == 1
    assert_counters_exact(store, record.id)
    # ... and so does ``initialize`` after an upgrade, for every such study.
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM rnntune_study_counters"))
    store.initialize()
    assert store.kept_counters(record.id) is not None
    assert_counters_exact(store, record.id)


def test_deleting_a_study_deletes_its_counters(store: StudyStore) -> None:
    record = create_study(store, budget={"n_trials": 2, "max_epochs": 2})
    study, number = start_trial(store, record)
    make_stale(store, record, number)
    store.fail_stale_trials(study)
    store.delete(record.id)
    with store.engine.connect() as conn:
        left = [conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("rnntune_study_counters", "rnntune_retry_links")]
    assert left == [0, 0]


def _mover(settings: Settings, record: Any, n: int, seed: int, errors: list[BaseException]
           ) -> None:
    """A worker's moves without training: claim, ask, then complete, prune, fail or hand
    back at random; some trials are left for the stale failer."""
    store = StudyStore(settings)
    rng = random.Random(seed)
    try:
        study = store.load_study(record)
        for _ in range(n):
            trial = study.ask()
            outcome = rng.random()
            try:
                trial.suggest_float("lr", 1e-3, 1e-1, log=True)
                if outcome < 0.4:
                    study.tell(trial, rng.choice([0.1, 0.2, 0.3, rng.random()]))
                elif outcome < 0.6:
                    study.tell(trial, state=TrialState.PRUNED)
                elif outcome < 0.7:
                    study.tell(trial, state=TrialState.FAIL)
                elif outcome < 0.85:
                    store.mark_requeue(record.id, trial.number)
                    study.tell(trial, state=TrialState.FAIL)
                    store.hand_back(study, trial.number, free_slot=False)
                # else: left running, as by a worker that died
            except (optuna.exceptions.UpdateFinishedTrialError, ValueError):
                # Failed as stale first (Optuna: "Cannot tell a FAIL trial"): lost the race.
                continue
            except optuna.exceptions.StorageInternalError:
                # The move was rolled back whole (SQLite busy under five writers, once in a
                # full run): the trial stays RUNNING, as a dead worker's, for the failer.
                continue
    except BaseException as error:  # reported by the test
        errors.append(error)
    finally:
        store.close()


def _failer(settings: Settings, record: Any, stop: threading.Event,
            errors: list[BaseException]) -> None:
    """Another process failing the trials left running, as stale, with retries."""
    store = StudyStore(settings)
    try:
        study = store.load_study(record)
        while not stop.is_set():
            with store.engine.begin() as conn:  # every running trial looks dead at once
                past = ("datetime('now', '-60 seconds')" if settings.is_sqlite
                        else "LOCALTIMESTAMP - interval '60 seconds'")
                conn.execute(text(f"UPDATE trial_heartbeats SET heartbeat = {past}"))
            store.fail_stale_trials(study)
            if random.random() < 0.5:
                store.repair_counters(record.id)  # a repair racing the moves stays exact
            stop.wait(0.05)
    except BaseException as error:
        errors.append(error)
    finally:
        store.close()


@pytest.mark.slow
def test_concurrent_moves_and_repairs_keep_the_counters_exact(
    any_settings: Settings, store: StudyStore
) -> None:
    # Heartbeats of live trials are aged too, so the failer races the movers' tells: a
    # trial is told COMPLETE by one and failed as stale by the other, only one wins.
    record = create_study(store, budget={"n_trials": 1000, "max_epochs": 2})
    # The test settings' 3 s grace caps SQLite's busy timeout at 1.5 s, which five writers
    # on a loaded machine outwaited once ("database is locked"); every heartbeat is aged by
    # 60 s, so a longer grace changes nothing else.
    settings = any_settings.model_copy(update={"grace_period_s": 10})
    errors: list[BaseException] = []
    stop = threading.Event()
    failer = threading.Thread(target=_failer, args=(settings, record, stop, errors))
    failer.start()
    with ThreadPoolExecutor(4) as pool:
        for seed in range(4):
            pool.submit(_mover, settings, record, 15, seed, errors)
    stop.set()
    failer.join()
    assert not errors, errors
    assert len(store.trials(record)) >= 60
    assert_counters_exact(store, record.id)
    assert_numbered_in_creation_order(store, record.id)
    assert store.repair_counters(record.id) is False
