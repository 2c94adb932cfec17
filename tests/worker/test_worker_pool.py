"""Workers in real processes: exact budgets, killed workers, supervision, failing trials."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time

from optuna.trial import TrialState

from service.config import Settings
from service.store import StudyStore, count_trials
from service.worker import Supervisor, Worker
from tests.factories import assert_counters_exact, create_study, slow_spec, tiny_spec, wait_for


def test_two_worker_processes_finish_exactly_the_budget(store: StudyStore) -> None:
    record = create_study(store, tiny_spec(budget={"n_trials": 7, "max_epochs": 1}))
    supervisor = Supervisor(store.settings, count=2, name="budget")
    supervisor.start()
    try:
        wait_for(lambda: store.get(record.id).status == "completed", timeout=120,
                 what="the study to complete")
        time.sleep(1.0)  # a worker that over-claimed would start its trial now
    finally:
        supervisor.stop()
    trials = store.trials(record)
    counts = count_trials(trials)
    assert counts.finished == 7 and len(trials) == 7
    assert counts.running == counts.waiting == 0
    workers = {t.user_attrs["worker"] for t in trials}
    assert len(workers) == 2, "both processes should have run trials"
    assert_counters_exact(store, record.id)


def test_supervisor_restarts_a_dead_worker(sqlite_settings: Settings) -> None:
    StudyStore(sqlite_settings).initialize()
    supervisor = Supervisor(sqlite_settings, count=1, name="restart")
    supervisor.check()
    try:
        first = supervisor.pids()
        assert len(first) == 1
        os.kill(first[0], signal.SIGKILL)
        wait_for(lambda: supervisor.slots[0].process is not None
                 and supervisor.slots[0].process.poll() is not None, timeout=10,
                 what="the worker to die")
        # It died young, so it comes back after a short crash-loop delay, not at once.
        supervisor.check()
        assert supervisor.pids() == []

        def restarted() -> bool:
            supervisor.check()
            return bool(supervisor.pids())

        wait_for(restarted, timeout=10, what="the restart")
        second = supervisor.pids()
        assert len(second) == 1 and second != first
        assert supervisor.slots[0].restarts == 1
    finally:
        supervisor.stop()


def test_diverging_trial_is_pruned_as_diverged_and_worker_goes_on(store: StudyStore) -> None:
    diverging = create_study(store, tiny_spec(
        name="diverges",
        search_space={"params": {"cell": "rnn", "nonlinearity": "relu", "optimizer": "sgd",
                                 "lr": 10.0, "grad_clip": 0, "hidden_size": 8,
                                 "batch_size": 8}},
        budget={"n_trials": 1, "max_epochs": 3},
    ))
    healthy = create_study(store, tiny_spec(name="healthy",
                                            budget={"n_trials": 1, "max_epochs": 1}))
    worker = Worker(store.settings, worker_id="w", device="cpu")
    worker.run_forever(max_trials=2)
    [trial] = store.trials(diverging)
    assert trial.state == TrialState.PRUNED
    assert trial.user_attrs["prune_reason"] == "diverged"
    assert "nan" in trial.user_attrs["message"] or "inf" in trial.user_attrs["message"]
    assert [t.state for t in store.trials(healthy)] == [TrialState.COMPLETE]


def test_study_deleted_mid_trial_does_not_kill_the_worker(store: StudyStore) -> None:
    doomed = create_study(store, slow_spec(name="doomed"))
    after = create_study(store, tiny_spec(name="after", budget={"n_trials": 1, "max_epochs": 1}))
    worker = Worker(store.settings, worker_id="w", device="cpu")
    runner = threading.Thread(target=worker.run_forever, kwargs={"max_trials": 2})
    runner.start()
    wait_for(lambda: any(t.intermediate_values for t in store.trials(doomed)), timeout=60,
             what="the doomed trial to start")
    store.delete(doomed.id)
    runner.join(timeout=120)
    assert not runner.is_alive()
    assert [t.state for t in store.trials(after)] == [TrialState.COMPLETE]


def test_two_studies_progress_side_by_side_and_max_parallel_holds(store: StudyStore) -> None:
    serial = create_study(store, tiny_spec(name="serial", max_parallel=1,
                                     budget={"n_trials": 4, "max_epochs": 1}))
    other = create_study(store, tiny_spec(name="other", budget={"n_trials": 4, "max_epochs": 1}))
    supervisor = Supervisor(store.settings, count=2, name="fair")
    supervisor.start()
    try:
        wait_for(lambda: all(store.get(r.id).status == "completed" for r in (serial, other)),
                 timeout=120, what="both studies to complete")
    finally:
        supervisor.stop()
    serial_trials = sorted(store.trials(serial), key=lambda t: t.datetime_start)
    for earlier, later in itertools.pairwise(serial_trials):
        assert earlier.datetime_complete <= later.datetime_start, "max_parallel=1 overlapped"
    # Round robin: the other study did not wait for the serial one to finish.
    first_other = min(t.datetime_start for t in store.trials(other))
    assert first_other < serial_trials[-1].datetime_start
    for record in (serial, other):
        assert count_trials(store.trials(record)).finished == 4
