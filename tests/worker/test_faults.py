"""Faults: killed and stopped workers, a restarted database, a killed API server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from optuna.trial import TrialState

from service.config import Settings
from service.store import StudyStore, count_trials
from service.worker import Supervisor, gpu_placements, worker_command, worker_env
from tests.factories import assert_counters_exact, create_study, slow_spec, wait_for


def start_worker(settings: Settings, name: str, cwd: Path) -> subprocess.Popen[bytes]:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(worker_command(name), env=worker_env(settings, device="cpu"),
                            cwd=cwd)


def epochs_reported(store: StudyStore, record: Any, at_least: int) -> bool:
    return any(len(t.intermediate_values) >= at_least for t in store.trials(record))


def test_sigkilled_worker_trial_resumes_at_the_next_epoch_elsewhere(
    store: StudyStore, tmp_path: Path
) -> None:
    record = create_study(store, slow_spec(budget={"n_trials": 1, "max_epochs": 6}))
    victim = start_worker(store.settings, "victim", tmp_path / "machine-a")
    try:
        wait_for(lambda: epochs_reported(store, record, 2), timeout=90,
                 what="two epochs to be reported")
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    [killed] = store.trials(record)
    assert killed.state == TrialState.RUNNING
    done_before_kill = len(killed.intermediate_values)
    # Another "machine": its own process and working directory, sharing only the database.
    rescuer = start_worker(store.settings, "rescuer", tmp_path / "machine-b")
    try:
        wait_for(lambda: store.get(record.id).status == "completed", timeout=120,
                 what="the retried trial to finish")
    finally:
        rescuer.send_signal(signal.SIGTERM)
        rescuer.wait(timeout=30)
    failed, retry = store.trials(record)
    assert (failed.state, retry.state) == (TrialState.FAIL, TrialState.COMPLETE)
    assert retry.params == failed.params
    assert retry.system_attrs["retry_history"] == [0]
    assert retry.user_attrs["worker"] == "rescuer"
    resumed = retry.user_attrs["resumed_from_epoch"]
    assert 1 <= resumed <= done_before_kill, "resumed from a checkpoint, not from epoch 0"
    assert sorted(retry.intermediate_values) == [1, 2, 3, 4, 5, 6]
    assert [e["epoch"] for e in retry.user_attrs["epochs"]] == [1, 2, 3, 4, 5, 6]
    counts = count_trials(store.trials(record))
    assert (counts.finished, counts.retried, counts.running, counts.waiting) == (1, 1, 0, 0)
    assert store.checkpoints.count(record.id) == 0, "finished trials leave no checkpoint"
    assert_counters_exact(store, record.id)


def test_sigterm_hands_the_trial_back_and_exits_promptly(
    store: StudyStore, tmp_path: Path
) -> None:
    record = create_study(store, slow_spec(budget={"n_trials": 1, "max_epochs": 6}))
    worker = start_worker(store.settings, "stopping", tmp_path / "a")
    wait_for(lambda: epochs_reported(store, record, 1), timeout=90, what="an epoch")
    stopped_at = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0
    assert time.monotonic() - stopped_at < 10, "a stopping worker must not finish the trial"
    handed_back, waiting = store.trials(record)
    assert (handed_back.state, waiting.state) == (TrialState.FAIL, TrialState.WAITING)
    assert waiting.system_attrs["handbacks"] == 1
    assert store.checkpoints.count(record.id) == 1
    successor = start_worker(store.settings, "successor", tmp_path / "b")
    try:
        wait_for(lambda: store.get(record.id).status == "completed", timeout=120,
                 what="the handed-back trial to finish")
    finally:
        successor.send_signal(signal.SIGTERM)
        successor.wait(timeout=30)
    trials = store.trials(record)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert trials[1].user_attrs["resumed_from_epoch"] >= 1
    assert count_trials(trials).finished == 1
    assert_counters_exact(store, record.id)


@pytest.mark.postgres
def test_postgres_restarted_mid_study_completes_exactly(postgres_url: str) -> None:
    from tests.factories import make_settings

    settings = make_settings(postgres_url)
    store = StudyStore(settings)
    store.initialize()
    record = create_study(store, slow_spec(budget={"n_trials": 4, "max_epochs": 3}))
    supervisor = Supervisor(settings, count=2, name="pg-restart")
    supervisor.start()
    try:
        wait_for(lambda: epochs_reported(store, record, 1), timeout=90, what="training")
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main",
                        "restart"], check=True, timeout=120)
        wait_for(lambda: _completed(store, record.id), timeout=240,
                 what="the study to complete after the restart")
    finally:
        supervisor.stop()
    counts = count_trials(store.trials(record))
    assert counts.finished == 4 and counts.running == 0 and counts.waiting == 0
    assert_counters_exact(store, record.id)
    store.close()


def _completed(store: StudyStore, study_id: int) -> bool:
    try:
        return store.get(study_id).status == "completed"
    except Exception:  # the server is still coming back
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(settings: Settings, port: int, workers: int, cwd: Path) -> subprocess.Popen[bytes]:
    env = worker_env(settings, device="cpu")
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port),
         "--workers", str(workers)], env=env, cwd=cwd,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def wait_healthy(url: str) -> None:
    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz").status_code == 200
        except httpx.TransportError:
            return False

    wait_for(healthy, timeout=60, what="the API to answer")


def test_api_server_killed_and_restarted_loses_nothing(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api = serve(sqlite_settings, port, 0, tmp_path)
    workers = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "worker", "--workers", "2"],
        env=worker_env(sqlite_settings, device="cpu"), cwd=tmp_path,
    )
    try:
        wait_healthy(url)
        # Trials of a second or more: tiny ones finish the whole study before the kill.
        spec = slow_spec(budget={"n_trials": 8, "max_epochs": 2})
        study_id = httpx.post(f"{url}/v1/studies", json=spec).json()["id"]
        store = StudyStore(sqlite_settings)

        def finished() -> int:
            return count_trials(store.trials(store.get(study_id))).finished

        wait_for(lambda: finished() >= 2, timeout=90, what="first trials")
        api.send_signal(signal.SIGKILL)
        api.wait()
        before = finished()
        wait_for(lambda: finished() > before, timeout=90,
                 what="workers to carry on without the API")
        api = serve(sqlite_settings, port, 0, tmp_path)
        wait_healthy(url)
        wait_for(lambda: httpx.get(f"{url}/v1/studies/{study_id}").json()["status"]
                 == "completed", timeout=120, what="the study to complete")
        study = httpx.get(f"{url}/v1/studies/{study_id}").json()
        assert study["trials"]["finished"] == 8 and study["trials"]["running"] == 0
        assert len(httpx.get(f"{url}/v1/studies/{study_id}/trials").json()["trials"]) == 8
        assert_counters_exact(store, study_id)
        store.close()
    finally:
        for process in (api, workers):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def test_embedded_server_killed_hands_its_trials_back(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    store = StudyStore(sqlite_settings)
    store.initialize()
    record = create_study(store, slow_spec(budget={"n_trials": 2, "max_epochs": 6}))
    server = serve(sqlite_settings, port, 2, tmp_path)
    wait_for(lambda: epochs_reported(store, record, 1), timeout=90, what="training")
    server.send_signal(signal.SIGKILL)
    server.wait()
    # Its workers get SIGTERM from the kernel when it dies: they finish the epoch in hand,
    # hand back and exit. 90 s: on a loaded 2-core machine that epoch alone can take long.
    seen: list[Any] = []

    def handed_back() -> bool:
        counts = count_trials(store.trials(record))
        seen[:] = [counts]
        return counts.running == 0 and counts.fail == counts.retried == counts.waiting >= 1

    try:
        wait_for(handed_back, timeout=90, what="the orphaned workers to hand their trials back")
    except AssertionError as error:
        raise AssertionError(f"{error}; trial counts at the end: {seen}") from None
    server = serve(sqlite_settings, port, 2, tmp_path)
    try:
        wait_for(lambda: store.get(record.id).status == "completed", timeout=180,
                 what="the restarted server to finish the study")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    counts = count_trials(store.trials(record))
    assert counts.finished == 2 and counts.running == counts.waiting == 0
    assert_counters_exact(store, record.id)
    store.close()


def test_gpu_placement_pins_each_process_to_one_card(sqlite_settings: Settings) -> None:
    placements = gpu_placements([0, 1], per_gpu=2)
    assert [p.gpu for p in placements] == [0, 0, 1, 1]
    assert {p.device for p in placements} == {"cuda:0"}
    supervisor = Supervisor(sqlite_settings, placements=placements, name="gpu")
    envs = [worker_env(sqlite_settings, device=s.placement.device, gpu=s.placement.gpu)
            for s in supervisor.slots]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["0", "0", "1", "1"]
    assert [e["RNNTUNE_DEVICE_LABEL"] for e in envs] == ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]
    assert all(e["RNNTUNE_DEVICE"] == "cuda:0" for e in envs)
    assert "CUDA_VISIBLE_DEVICES" not in worker_env(sqlite_settings, device="cpu") or (
        os.environ.get("CUDA_VISIBLE_DEVICES") is not None
    )
    for bad in ([], [0, 0], [-1]):
        with pytest.raises(ValueError):
            gpu_placements(bad, per_gpu=1)
    with pytest.raises(ValueError):
        gpu_placements([0], per_gpu=0)


def test_worker_cli_refuses_gpus_it_does_not_have(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from service.cli import main

    missing = torch.cuda.device_count()
    assert main(["worker", "--gpus", str(missing), "--per-gpu", "2"]) == 2
    assert "not present" in capsys.readouterr().err
