"""Chaos: a study runs while workers and the API server are SIGKILLed on a random (seeded)
schedule, and on PostgreSQL the database server restarts once. It must finish exactly its
budget, leave nothing RUNNING or WAITING, resume every killed trial from its checkpoint, and
finish its evaluation."""

from __future__ import annotations

import os
import random
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from optuna.trial import TrialState

from service.config import Settings
from service.store import StudyStore, count_trials
from tests.factories import assert_counters_exact, create_study, make_settings, slow_spec, wait_for
from tests.worker.test_faults import free_port, serve, start_worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# Four trials on two workers: after the first worker kill and the API restart, trials are
# still running with checkpoints for the second kill to find, even on a slow machine.
N_TRIALS = 4


class Cluster:
    """An API server and two workers as real processes, each replaceable after a kill."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.settings, self.tmp_path = settings, tmp_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = serve(settings, self.port, 0, tmp_path)
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.started = 0
        self.wait_healthy()
        for _ in range(2):
            self.add_worker()

    def wait_healthy(self) -> None:
        def healthy() -> bool:
            try:
                return httpx.get(f"{self.url}/healthz", timeout=10).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, timeout=240, what="the API server to answer")

    def add_worker(self) -> None:
        name = f"chaos-w{self.started}"
        self.started += 1
        self.workers[name] = start_worker(self.settings, name, self.tmp_path / name)

    def kill_worker(self, name: str) -> None:
        process = self.workers.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.add_worker()

    def kill_api(self) -> None:
        """Kill the server and start its replacement without waiting for it: the workers do
        not need it, and the schedule's next kill must not miss the trials running meanwhile."""
        self.api.send_signal(signal.SIGKILL)
        self.api.wait()
        self.api = serve(self.settings, self.port, 0, self.tmp_path)

    def stop(self) -> None:
        for process in [*self.workers.values(), self.api]:
            process.send_signal(signal.SIGTERM)
        for process in [*self.workers.values(), self.api]:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _quietly(read: Any, default: Any) -> Any:
    try:
        return read()
    except Exception:  # the database is restarting
        return default


def checkpointed_victim(store: StudyStore, record: Any, alive: set[str]) -> Any:
    """A running trial with a saved checkpoint whose worker is alive: (trial, epoch)."""
    for trial in store.trials(record):
        key = trial.user_attrs.get("checkpoint_key")
        if trial.state != TrialState.RUNNING or trial.user_attrs.get("worker") not in alive:
            continue
        checkpoint = store.checkpoints.load(key) if key else None
        if checkpoint is not None and checkpoint.epoch >= 1:
            return trial, checkpoint.epoch
    return None


def run_chaos(settings: Settings, tmp_path: Path, *, restart_database: bool) -> None:
    store = StudyStore(settings)
    store.initialize()
    record = create_study(store, slow_spec(budget={"n_trials": N_TRIALS, "max_epochs": 4}))
    print(f"chaos: study {record.id} created", flush=True)
    schedule = ["worker", "worker", "api"] + (["database"] if restart_database else [])
    random.Random(12).shuffle(schedule)
    cluster = Cluster(settings, tmp_path)
    kills: list[tuple[int, int]] = []  # (trial number, checkpoint epoch at the kill)
    found: list[Any] = []

    def victim() -> bool:
        found.append(_quietly(lambda: checkpointed_victim(store, record, set(cluster.workers)),
                              None))
        if found[-1] is None and _quietly(
                lambda: count_trials(store.trials(record)).finished >= N_TRIALS, False):
            raise AssertionError("the study finished before the schedule's kills were done")
        return found[-1] is not None

    try:
        for event in schedule:
            if event == "worker":
                wait_for(victim, timeout=180, what="a checkpointed trial to kill")
                trial, epoch = found[-1]
                print(f"chaos: killing {trial.user_attrs['worker']} in trial {trial.number} "
                      f"(checkpoint at epoch {epoch})", flush=True)
                cluster.kill_worker(trial.user_attrs["worker"])
                kills.append((trial.number, epoch))
            elif event == "api":
                print("chaos: killing the API server", flush=True)
                cluster.kill_api()
            else:
                version = sorted(os.listdir("/etc/postgresql"))[-1]
                subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main",
                                "restart"], check=True, timeout=120)
        cluster.wait_healthy()  # the replacement server came up
        wait_for(lambda: _quietly(lambda: store.get(record.id).eval_status == "done", False),
                 timeout=400, what="the study to complete and its evaluation to be done")
    finally:
        cluster.stop()
    trials = store.trials(record)
    counts = count_trials(trials)
    assert (counts.finished, counts.running, counts.waiting) == (N_TRIALS, 0, 0), counts
    assert all(t.state != TrialState.RUNNING and t.state != TrialState.WAITING for t in trials)
    assert len(kills) == schedule.count("worker")
    retry_of = {(t.system_attrs.get("retry_history") or [None])[-1]: t for t in trials}
    for number, epoch in kills:
        # Follow the lineage: a retry may itself be handed back before it runs (its claim
        # expired) or killed; the value is only ever set by a run that resumed.
        lineage, current = [], retry_of.get(number)
        while current is not None:
            lineage.append(current)
            current = retry_of.get(current.number)
        assert lineage, f"trial {number} was never retried"
        resumed = max(t.user_attrs.get("resumed_from_epoch", 0) for t in lineage)
        assert resumed >= epoch, (
            f"no retry of trial {number} resumed from its epoch-{epoch} checkpoint")
    assert store.get(record.id).evaluation["test"]
    assert store.checkpoints.count(record.id) == 0
    assert_counters_exact(store, record.id)
    store.close()


@pytest.mark.postgres
def test_chaos_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    run_chaos(make_settings(postgres_url, max_trial_retries=5), tmp_path,
              restart_database=True)


def test_chaos_on_sqlite(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'chaos.db'}", max_trial_retries=5)
    run_chaos(settings, tmp_path, restart_database=False)
