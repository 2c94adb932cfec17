"""`rnntune datasets ...` and the final evaluation as the CLI shows it, against a live server
and a real worker."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from service.cli import main
from service.config import Settings
from service.worker import Worker
from tests.test_cli import server

__all__ = ["server"]  # the live-server fixture, shared with test_cli


def write_series(path: Path, rows: int = 60) -> Path:
    t = np.arange(rows)
    path.write_text("year,level\n" + "".join(
        f"{1950 + i},{np.sin(i / 3.0) * 5 + 10:.4f}\n" for i in t
    ))
    return path


def test_datasets_commands_and_an_evaluated_study(
    server: str, sqlite_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = ["--url", server]
    csv_path = write_series(tmp_path / "levels.csv")
    assert main(["datasets", "upload", str(csv_path), "--time-column", "year", *url]) == 0
    out = capsys.readouterr().out
    assert "levels.csv" in out and "forecasting" in out and "60 rows, target level" in out

    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"this is not an archive")
    assert main(["datasets", "upload", str(broken), *url]) == 2
    assert "not an NPZ archive" in capsys.readouterr().err
    assert main(["datasets", "upload", str(tmp_path / "missing.csv"), *url]) == 2
    assert "no such file" in capsys.readouterr().err

    assert main(["datasets", "list", *url]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    assert main(["datasets", "show", "1", *url]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["meta"]["target"] == "level" and shown["meta"]["time_column"] == "year"

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "levels",
        "task": {"dataset": 1, "window": 6},
        "search_space": {"params": {"cell": "gru", "hidden_size": 6, "lr": 0.02,
                                    "batch_size": 16}},
        "objective": {"metric": "val_mae"},
        "sampler": {"name": "random", "seed": 0},
        "pruner": {"name": "none"},
        "budget": {"n_trials": 2, "max_epochs": 3},
        "evaluation": {"seeds": 2},
    }))
    stop = threading.Event()
    worker = Worker(sqlite_settings, worker_id="cli-eval", device="cpu", stop=stop)
    runner = threading.Thread(target=worker.run_forever)
    runner.start()
    try:
        assert main(["submit", str(spec), "--evaluated", "--poll", "0.2", *url]) == 0
    finally:
        stop.set()
        runner.join(timeout=60)
    out = capsys.readouterr().out
    assert "test mae=" in out and "seeds" in out and "(n=2)" in out

    assert main(["status", "1", *url]) == 0
    out = capsys.readouterr().out
    assert "validation best val_mae" in out and "test (study seed): loss=" in out
    assert "test_mae over seeds [0, 1]: mean" in out
    assert "baseline naive_last_value mae: val" in out

    assert main(["best", "1", *url]) == 0
    assert "baseline naive_last_value" in capsys.readouterr().out
    assert main(["datasets", "delete", "1", *url]) == 0
    assert main(["datasets", "show", "1", *url]) == 2
    assert "does not exist" in capsys.readouterr().err
