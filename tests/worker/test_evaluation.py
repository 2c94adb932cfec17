"""The final evaluation in workers: pending when a study completes, taken by exactly one
worker, taken over when its worker dies, handed back on a graceful stop."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from service.api._views import study_public
from service.store import StudyStore, utcnow
from service.store._tables import studies
from service.worker import Worker
from tests.factories import create_study, tiny_spec


def run_until(worker: Worker, done: Any, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        if not worker.run_once():
            time.sleep(0.05)


def test_completed_study_is_evaluated_once_with_seeds(store: StudyStore) -> None:
    record = create_study(store, tiny_spec(evaluation={"seeds": 2}))
    worker = Worker(store.settings, worker_id="w1", device="cpu")
    run_until(worker, lambda: store.get(record.id).eval_status == "done")
    study = study_public(store.get(record.id), store.trials(record))
    evaluation = study.evaluation
    assert study.status == "completed" and evaluation is not None
    assert study.best is not None and evaluation.trial == study.best.number
    assert evaluation.params == study.best.params
    assert evaluation.test is not None and evaluation.test["loss"] > 0
    assert evaluation.seeds is not None and evaluation.seeds.seeds == [0, 1]
    assert evaluation.seeds.mean is not None and evaluation.seeds.std is not None
    assert evaluation.worker == "w1" and evaluation.duration_s is not None
    assert evaluation.runs[0].val["loss"] == pytest.approx(study.best.value, rel=1e-6)
    # Nothing is left to evaluate: another worker finds no work.
    assert store.evaluations.claim(owner="w2", lease_s=30) is None
    assert len(store.trials(record)) == 3, "the evaluation creates no trials"


def test_exactly_one_claim_and_takeover_after_the_lease(store: StudyStore) -> None:
    record = create_study(store, tiny_spec(budget={"n_trials": 1, "max_epochs": 1}))
    worker = Worker(store.settings, worker_id="trainer", device="cpu")
    claim = store.claim()
    assert claim is not None
    worker._run_trial(claim)
    store.trial_ended(record.id)
    assert store.refresh_status(record.id).eval_status == "pending"

    got: dict[str, int | None] = {}
    barrier = threading.Barrier(4)

    def race(name: str) -> None:
        barrier.wait()
        got[name] = store.evaluations.claim(owner=name, lease_s=30)

    threads = [threading.Thread(target=race, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [name for name, study_id in got.items() if study_id == record.id]
    assert len(winners) == 1 and sum(v is None for v in got.values()) == 3
    # The holder "dies": nobody renews, the lease runs out, another worker takes over.
    assert store.evaluations.claim(owner="late", lease_s=30) is None
    with store.engine.begin() as conn:  # time passes: the lease ended a second ago
        conn.execute(update(studies).where(studies.c.id == record.id)
                     .values(eval_lease_until=utcnow() - timedelta(seconds=1)))
    assert store.evaluations.claim(owner="late", lease_s=30) == record.id
    assert not store.evaluations.renew(record.id, owner=winners[0], lease_s=30)
    assert store.evaluations.renew(record.id, owner="late", lease_s=30)
    assert store.get(record.id).eval_status == "running"


def test_a_crashing_evaluation_gives_up_after_its_attempts(store: StudyStore) -> None:
    record = create_study(store, tiny_spec(budget={"n_trials": 1, "max_epochs": 1}))
    worker = Worker(store.settings, worker_id="trainer", device="cpu")
    claim = store.claim()
    assert claim is not None
    worker._run_trial(claim)
    store.trial_ended(record.id)
    store.refresh_status(record.id)
    for attempt in range(2):
        assert store.evaluations.claim(owner=f"dies{attempt}", lease_s=0.01,
                                       max_attempts=2) == record.id
        time.sleep(0.05)
    assert store.evaluations.claim(owner="last", lease_s=30, max_attempts=2) is None
    after = store.get(record.id)
    assert after.eval_status == "failed" and "stopped 2 times" in after.evaluation["message"]


def test_graceful_stop_hands_the_evaluation_back(store: StudyStore) -> None:
    spec = tiny_spec(
        task={"name": "adding", "seq_len": 30, "n_train": 2048, "n_val": 64, "n_test": 64},
        budget={"n_trials": 1, "max_epochs": 1},
        evaluation={"seeds": 5},
    )
    record = create_study(store, spec)
    stop = threading.Event()
    worker = Worker(store.settings, worker_id="stopper", device="cpu", stop=stop)
    run_until(worker, lambda: store.get(record.id).eval_status == "pending")
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    deadline = time.monotonic() + 30
    while store.get(record.id).eval_status != "running":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    stop.set()
    thread.join(timeout=60)
    after = store.get(record.id)
    assert after.eval_status == "pending" and after.evaluation is None
    fresh = Worker(store.settings, worker_id="next", device="cpu")
    assert fresh.store.evaluations.claim(owner="next", lease_s=30) == record.id


def test_cancelled_studies_are_not_evaluated_and_empty_ones_are_skipped(
    store: StudyStore,
) -> None:
    cancelled = create_study(store, tiny_spec(name="c"))
    store.cancel(cancelled.id)
    assert store.get(cancelled.id).eval_status is None
    assert study_public(store.get(cancelled.id), []).evaluation is None
    timed_out = create_study(store, tiny_spec(name="t", budget={"n_trials": 2, "timeout_s": 0.01}))
    time.sleep(0.05)
    assert store.refresh_status(timed_out.id).eval_status == "skipped"


def test_the_model_is_written_only_under_an_unexpired_lease(store: StudyStore) -> None:
    # Result and model go in one transaction fenced by the lease, on the database's clock:
    # a worker whose lease ran out (or whose study was deleted) writes neither.
    record = create_study(store, tiny_spec(budget={"n_trials": 1, "max_epochs": 1}))
    worker = Worker(store.settings, worker_id="trainer", device="cpu")
    claim = store.claim()
    assert claim is not None
    worker._run_trial(claim)
    store.trial_ended(record.id)
    assert store.refresh_status(record.id).eval_status == "pending"
    assert store.evaluations.claim(owner="slow", lease_s=30) == record.id
    with store.engine.begin() as conn:  # its lease ended a second ago
        conn.execute(update(studies).where(studies.c.id == record.id)
                     .values(eval_lease_until=utcnow() - timedelta(seconds=1)))
    assert not store.evaluations.finish(record.id, owner="slow", result={"x": 1},
                                        model=b"stale weights")
    assert store.models.get(record.id) is None
    assert store.evaluations.claim(owner="next", lease_s=30) == record.id
    store.delete(record.id)  # deleted while "next" evaluates
    assert not store.evaluations.finish(record.id, owner="next", result={"x": 2},
                                        model=b"orphan weights")
    assert store.models.get(record.id) is None, "no model outlives its study"
