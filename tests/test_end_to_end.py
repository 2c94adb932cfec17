"""The README's promise, end to end: `rnntune serve` with two local workers on a SQLite file,
a study submitted with `rnntune submit --wait`, exactly its budget of trials, some pruned, and a
best value far below the task's baseline."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

pytestmark = pytest.mark.slow

SPEC = {
    "name": "e2e",
    "task": {"name": "adding", "seq_len": 20, "n_train": 1024, "n_val": 256, "n_test": 64},
    "search_space": {
        "params": {
            "cell": {"type": "categorical", "choices": ["gru", "lstm"]},
            "hidden_size": {"type": "int", "low": 8, "high": 24},
            # Adam at 1e-6 barely moves in two epochs; such trials must be pruned.
            "lr": {"type": "categorical", "choices": [1.0e-6, 1.0e-2]},
            "batch_size": 32,
        }
    },
    "objective": {"metric": "val_mse"},
    "sampler": {"name": "random", "seed": 0},
    "pruner": {"name": "threshold", "upper": 0.5, "n_warmup_steps": 2},
    "budget": {"n_trials": 8, "max_epochs": 5},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_submit_wait(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    rnntune = [sys.executable, "-m", "service.cli"]
    env = {**os.environ, "RNNTUNE_API_URL": url}
    server = subprocess.Popen(
        [*rnntune, "serve", "--port", str(port), "--workers", "2"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "rnntune serve did not come up"
            time.sleep(0.3)
        spec_file = tmp_path / "spec.yaml"
        spec_file.write_text(yaml.safe_dump(SPEC, sort_keys=False))
        submitted = subprocess.run(
            [*rnntune, "submit", str(spec_file), "--wait", "--poll", "0.5", "--json"],
            env=env, capture_output=True, text=True, timeout=300,
        )
        assert submitted.returncode == 0, submitted.stderr
        study = json.loads(submitted.stdout)
        # The progress bar, at the end: the study's label and its whole budget.
        assert f"study {study['id']}:" in submitted.stderr and "8/8" in submitted.stderr
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)

    assert (tmp_path / "rnntune.db").exists(), "the embedded default is a SQLite file in cwd"
    assert study["status"] == "completed" and study["stop_reason"] == "budget"
    counts = study["trials"]
    assert counts["finished"] == 8 and counts["running"] == 0 and counts["fail"] == 0
    assert counts["pruned"] >= 1 and counts["complete"] >= 1
    assert study["best"]["value"] < 0.5 * study["baseline"]["value"]
    assert study["best"]["params"]["lr"] == 1.0e-2
