"""`rnntune export` and `rnntune predict` against a live server and a real worker."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import service
from service.cli import main
from service.client import Client
from service.config import Settings
from service.tasks import get_task, parse_task_options
from service.worker import Worker
from tests.factories import tiny_spec
from tests.test_cli import server, write_spec

__all__ = ["server"]  # the live-server fixture, shared with test_cli


def test_export_and_predict(
    server: str, sqlite_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = ["--url", server]
    spec = write_spec(tmp_path, name="exported", budget={"n_trials": 1, "max_epochs": 2})
    assert main(["submit", str(spec), *url]) == 0
    capsys.readouterr()
    assert main(["export", "1", "-o", str(tmp_path / "early.pt"), *url]) == 2
    assert "no model" in capsys.readouterr().err
    worker = Worker(sqlite_settings, worker_id="cli-model-w", device="cpu")
    runner = threading.Thread(target=worker.run_forever, daemon=True)
    runner.start()
    with Client(server) as client:
        study = client.wait(1, poll_s=0.2, timeout_s=60, evaluation=True)
    worker.stop.set()
    runner.join(timeout=30)
    assert study.evaluation is not None and study.evaluation.test is not None

    model_path = tmp_path / "model.pt"
    assert main(["export", "1", "-o", str(model_path), *url]) == 0
    assert "service.load_model" in capsys.readouterr().out
    model = service.load_model(model_path)
    task = get_task("adding")
    data = task.load(parse_task_options(task, tiny_spec()["task"]), seed=0)
    x, y = data.test.x.numpy(), data.test.y.numpy().astype(np.float64)
    mse = float(np.mean((model.predict(x) - y) ** 2))
    # The model served is the seed ensemble (the default), scored by the evaluation.
    assert study.evaluation.ensemble is not None and model.n_members == 3
    assert mse == pytest.approx(study.evaluation.ensemble.test["mse"], rel=1e-6)

    assert main(["export", "1", "-o", str(tmp_path / "model.ts"), *url]) == 0
    scripted = torch.jit.load(str(tmp_path / "model.ts"))
    with torch.no_grad():
        np.testing.assert_allclose(scripted(data.test.x).numpy(), model.predict(x), rtol=1e-5)

    inputs = tmp_path / "new.npz"
    np.savez(inputs, X=x[:4])
    capsys.readouterr()
    assert main(["predict", "1", "--input", str(inputs), "--json", *url]) == 0
    shown = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(shown["predictions"], model.predict(x[:4]), rtol=1e-6)
    assert main(["predict", "1", "--input", str(inputs), *url]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("0\t")


def test_integer_class_labels_come_back_as_integers(
    server: str, sqlite_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Labels uploaded as integers (7, 20, 300) are integers again from every predict path."""
    rng = np.random.default_rng(0)
    n = 60
    y = np.array([7, 20, 300])[np.arange(n) % 3]
    x = rng.normal(0.0, 0.3, (n, 5, 1)) + (np.arange(n) % 3)[:, None, None]
    data = tmp_path / "ints.npz"
    np.savez(data, X=x, y=y)
    url = ["--url", server]
    assert main(["datasets", "upload", str(data), "--json", *url]) == 0
    dataset = json.loads(capsys.readouterr().out)
    assert dataset["meta"]["label_type"] == "integer"
    spec = write_spec(tmp_path, task={"dataset": dataset["id"]},
                      budget={"n_trials": 1, "max_epochs": 2})
    assert main(["submit", str(spec), *url]) == 0
    worker = Worker(sqlite_settings, worker_id="cli-int-w", device="cpu")
    runner = threading.Thread(target=worker.run_forever, daemon=True)
    runner.start()
    with Client(server) as client:
        client.wait(1, poll_s=0.2, timeout_s=60, evaluation=True)
        model = service.load_model(client.download_model(1))
        via_client = client.predict(1, x[:6])
    worker.stop.set()
    runner.join(timeout=30)

    predicted = model.predict(x[:6])
    assert predicted.dtype.kind == "i" and set(predicted.tolist()) <= {7, 20, 300}
    assert model.labels == [7, 20, 300]
    assert via_client.predictions == predicted.tolist()
    assert all(type(v) is int for v in via_client.predictions + (via_client.labels or []))
    inputs = tmp_path / "new.npz"
    np.savez(inputs, X=x[:6])
    capsys.readouterr()
    assert main(["predict", "1", "--input", str(inputs), "--json", *url]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["predictions"] == predicted.tolist() and shown["labels"] == [7, 20, 300]
