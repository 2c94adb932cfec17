"""The best model of a finished study: download it, load it in one call, predict with it over
REST and the client; its predictions reproduce the worker's own test evaluation."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

import service
from service.client import Client
from service.config import Settings
from service.errors import ConflictError, NotFoundError
from service.tasks import compute_metrics, get_task, parse_task_options
from service.tasks._prep import split_counts
from service.worker import Worker
from tests.factories import tiny_spec

ONE_TRIAL = {"n_trials": 1, "max_epochs": 2}


def evaluate(http: TestClient, settings: Settings, study_id: int) -> dict[str, Any]:
    """Run the study and its final evaluation with a real worker; the study's JSON."""
    worker = Worker(settings, worker_id="model-w", device="cpu")
    deadline = time.monotonic() + 60
    while True:
        study = http.get(f"/v1/studies/{study_id}").json()
        if (study.get("evaluation") or {}).get("status") == "done":
            return dict(study)
        assert time.monotonic() < deadline, study
        if not worker.run_once():
            time.sleep(0.05)


def served_test(study: dict[str, Any]) -> dict[str, float]:
    """Test metrics of the model the study serves: its seed ensemble (the default), else the
    study seed's run."""
    evaluation = study["evaluation"]
    return dict((evaluation.get("ensemble") or {}).get("test") or evaluation["test"])


def npz_bytes(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_regression_model_download_load_predict_and_torchscript(
    http: TestClient, client: Client, sqlite_settings: Settings, tmp_path: Path
) -> None:
    spec = tiny_spec(budget={"n_trials": 2, "max_epochs": 2})
    study_id = http.post("/v1/studies", json=spec).json()["id"]
    early = http.get(f"/v1/studies/{study_id}/model")
    assert early.status_code == 409 and "once it completes" in early.json()["detail"]
    with pytest.raises(ConflictError):
        client.predict(study_id, np.zeros((1, 8, 2)))
    test = served_test(evaluate(http, sqlite_settings, study_id))

    response = http.get(f"/v1/studies/{study_id}/model")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    model = service.load_model(response.content)
    assert model.kind == "regression" and model.test == pytest.approx(test)
    assert model.n_members == 3, "the default: the ensemble of the 3 evaluation seeds"
    task = get_task("adding")
    data = task.load(parse_task_options(task, spec["task"]), seed=0)
    x, y = data.test.x.numpy(), data.test.y.numpy()
    predicted = model.predict(x)
    assert predicted.shape == (32, 1)
    metrics = compute_metrics("regression", torch.from_numpy(predicted), torch.from_numpy(y))
    for name in ("mse", "mae"):
        assert metrics[name] == pytest.approx(test[name], rel=1e-6, abs=1e-9), name

    # The client writes the same file; the REST predict gives the same numbers.
    path = tmp_path / "model.pt"
    assert client.download_model(study_id, path) == response.content
    again = service.load_model(path)
    np.testing.assert_array_equal(again.predict(x), predicted)
    result = client.predict(study_id, x)
    assert result.kind == "regression" and result.n == 32
    np.testing.assert_allclose(np.asarray(result.predictions), predicted, rtol=1e-6)
    posted = http.post(f"/v1/studies/{study_id}/predict", content=npz_bytes(X=x[:3]))
    assert posted.status_code == 200, posted.text
    np.testing.assert_allclose(posted.json()["predictions"], predicted[:3], rtol=1e-6)

    # TorchScript: raw input in, values in the data's units out.
    ts_path = tmp_path / "model.ts"
    client.download_model(study_id, ts_path, torchscript=True)
    scripted = torch.jit.load(str(ts_path))
    with torch.no_grad():
        np.testing.assert_allclose(scripted(data.test.x).numpy(), predicted, rtol=1e-5,
                                   atol=1e-6)

    wrong = http.post(f"/v1/studies/{study_id}/predict", content=npz_bytes(X=np.zeros((2, 8, 3))))
    assert wrong.status_code == 422 and "3 features" in wrong.json()["detail"]
    assert http.get("/v1/studies/999/model").status_code == 404
    with pytest.raises(NotFoundError):
        client.download_model(999)


def test_classification_dataset_model_maps_labels_and_lengths(
    http: TestClient, client: Client, sqlite_settings: Settings
) -> None:
    rng = np.random.default_rng(0)
    n, steps = 90, 7
    lengths = rng.integers(3, steps + 1, n)
    labels = np.array(["low", "mid", "high"])[np.arange(n) % 3]
    level = {"low": -1.0, "mid": 0.0, "high": 1.0}
    x = rng.normal(0.0, 0.5, (n, steps, 2)) * 3 + 7  # normalisation matters
    for i in range(n):
        x[i, :, 0] += 3 * level[labels[i]]
        x[i, lengths[i]:] = 0.0
    split = np.array(["train"] * 60 + ["val"] * 15 + ["test"] * 15)
    dataset = client.upload_dataset(npz_bytes(X=x, y=labels, lengths=lengths, split=split),
                                    filename="levels.npz")
    spec = tiny_spec(task={"dataset": dataset.id}, budget=ONE_TRIAL)
    study_id = http.post("/v1/studies", json=spec).json()["id"]
    test = served_test(evaluate(http, sqlite_settings, study_id))

    model = service.load_model(client.download_model(study_id))
    assert model.kind == "classification" and model.labels == ["high", "low", "mid"]
    rows = split == "test"
    predicted = model.predict(x[rows], lengths[rows])
    assert set(predicted) <= {"low", "mid", "high"}
    accuracy = float(np.mean(predicted == labels[rows]))
    assert accuracy == pytest.approx(test["accuracy"], abs=1e-9)
    probs = model.predict_proba(x[rows], lengths[rows])
    index = np.array([model.labels.index(label) for label in labels[rows]])
    loss = float(-np.mean(np.log(probs[np.arange(len(index)), index])))
    assert loss == pytest.approx(test["loss"], rel=1e-5)

    result = client.predict(study_id, x[rows], lengths=lengths[rows])
    assert result.predictions == predicted.tolist() and result.labels == model.labels
    assert result.probabilities is not None
    np.testing.assert_allclose(result.probabilities, probs, rtol=1e-5, atol=1e-7)


def test_forecasting_dataset_model_predicts_from_csv(
    http: TestClient, client: Client, sqlite_settings: Settings, tmp_path: Path
) -> None:
    rows = 80
    values = np.sin(np.arange(rows) / 3.0) * 5 + 10
    csv_text = "year,level\n" + "".join(f"{1900 + i},{v:.4f}\n" for i, v in enumerate(values))
    dataset = client.upload_dataset(csv_text.encode(), filename="levels.csv",
                                    time_column="year")
    spec = tiny_spec(task={"dataset": dataset.id, "window": 6, "horizon": 2},
                     budget=ONE_TRIAL)
    study_id = http.post("/v1/studies", json=spec).json()["id"]
    test = served_test(evaluate(http, sqlite_settings, study_id))

    path = tmp_path / "levels.csv"
    path.write_text(csv_text)
    result = client.predict(study_id, path)
    assert result.kind == "forecasting" and result.for_rows is not None
    assert result.for_rows[0] == 6 + 2 - 1 and result.for_rows[-1] == rows - 1 + 2
    forecasts = {row: value[0] for row, value in zip(result.for_rows, result.predictions,
                                                     strict=True)}
    _, n_test = split_counts(rows, val_fraction=0.15, test_fraction=0.15)
    truth = np.round(values, 4)
    test_rows = range(rows - n_test, rows)
    mse = float(np.mean([(forecasts[r] - truth[r]) ** 2 for r in test_rows]))
    assert mse == pytest.approx(test["mse"], rel=1e-5)

    model = service.load_model(client.download_model(study_id))
    targets, local = model.predict_series(truth[:, None])
    assert targets.tolist() == result.for_rows
    np.testing.assert_allclose(local[:, 0], [v[0] for v in result.predictions], rtol=1e-6)


def test_a_model_row_is_served_only_once_its_evaluation_is_done(
    http: TestClient, sqlite_settings: Settings
) -> None:
    # A row left under this id (by a deleted study whose id was reused, say) is not the
    # study's model while its own evaluation has not finished.
    from service.store import StudyStore

    study_id = http.post("/v1/studies", json=tiny_spec()).json()["id"]
    store = StudyStore(sqlite_settings)
    store.models.save(study_id, b"someone else's weights")
    store.close()
    response = http.get(f"/v1/studies/{study_id}/model")
    assert response.status_code == 409, response.content[:100]
