"""/v1/datasets over HTTP: upload, list, show, delete; every broken upload is a clear 4xx with
nothing stored; studies use a data set by id, and a data set in use cannot be deleted."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.client import Client
from service.config import Settings
from service.errors import ConflictError, DatasetError, PayloadTooLargeError, SpecError
from service.worker import Worker
from tests.factories import make_settings


def npz(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def classification_npz(n: int = 36) -> bytes:
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, 8, 2)).astype(np.float32)
    x[:, :, 0] += y[:, None]  # learnable: the class shifts channel 0
    lengths = rng.integers(3, 9, size=n)
    return npz(X=x, y=y, lengths=lengths)


def series_csv(rows: int = 80) -> bytes:
    t = np.arange(rows)
    values = np.sin(t / 4.0) * 10 + 20
    return ("year,sales,temp\n" + "".join(
        f"{1900 + i},{v:.4f},{np.cos(i / 3.0):.4f}\n" for i, v in zip(t, values, strict=True)
    )).encode()


def with_row(line: int, text: str) -> bytes:
    """``series_csv()`` with its ``line``-th line (0: the header) replaced by ``text``."""
    lines = series_csv().decode().splitlines()
    lines[line] = text
    return ("\n".join(lines) + "\n").encode()


def upload(http: TestClient, content: bytes, **params: Any) -> Any:
    return http.post("/v1/datasets", content=content, params=params,
                     headers={"content-type": "application/octet-stream"})


def body_text(response: Any) -> str:
    return json.dumps(response.json())


SPACE = {"params": {"cell": "gru", "hidden_size": {"type": "int", "low": 4, "high": 8},
                    "lr": 0.02, "batch_size": 16}}


def dataset_spec(dataset_id: int, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "task": {"dataset": dataset_id},
        "search_space": SPACE,
        "sampler": {"name": "random", "seed": 0},
        "pruner": {"name": "none"},
        "budget": {"n_trials": 2, "max_epochs": 3},
        "evaluation": {"seeds": 2},
    }
    spec.update(overrides)
    return spec


def test_upload_list_show_delete(http: TestClient) -> None:
    created = upload(http, classification_npz(), filename="vowels.npz")
    assert created.status_code == 201, created.text
    dataset = created.json()
    assert dataset["name"] == "vowels.npz" and dataset["kind"] == "classification"
    assert dataset["format"] == "npz" and dataset["size_bytes"] == len(classification_npz())
    assert dataset["meta"]["classes"] == {"0": 12, "1": 12, "2": 12}
    assert dataset["meta"]["variable_length"] is True
    series = upload(http, series_csv(), name="sales", format="csv", target="sales",
                    time_column="year")
    assert series.status_code == 201, series.text
    assert series.json()["meta"]["time_range"] == ["1900", "1979"]
    listed = http.get("/v1/datasets").json()["datasets"]
    assert [d["name"] for d in listed] == ["vowels.npz", "sales"]
    assert http.get(f"/v1/datasets/{dataset['id']}").json()["sha256"] == dataset["sha256"]
    assert http.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
    assert http.get(f"/v1/datasets/{dataset['id']}").status_code == 404
    assert http.delete(f"/v1/datasets/{dataset['id']}").status_code == 404
    assert upload(http, series_csv(), name="sales", format="csv",
                  target="sales").status_code == 409


def _bad_npz_pickle() -> bytes:
    objects = np.empty(2, dtype=object)
    objects[:] = [{"a": 1}, {"b": 2}]
    buffer = io.BytesIO()
    np.savez(buffer, X=np.zeros((2, 3, 1)), y=objects)
    return buffer.getvalue()


BROKEN: list[tuple[str, bytes, dict[str, Any], str]] = [
    ("npz that is text", b"X,y\n1,2\n", {"filename": "d.npz"}, "not an NPZ archive"),
    ("pickled objects", _bad_npz_pickle(), {"filename": "d.npz"}, "never unpickled"),
    ("wrong shape", npz(X=np.zeros(30), y=np.arange(30) % 2), {"filename": "d.npz"},
     "X must be (N, T, F)"),
    ("nan values", npz(X=np.full((30, 2, 1), np.nan), y=np.arange(30) % 2),
     {"filename": "d.npz"}, "NaN or infinite"),
    ("float labels", npz(X=np.zeros((30, 2, 1)), y=np.linspace(0, 1, 30)),
     {"filename": "d.npz", "kind": "classification"}, "integers or strings, got floats"),
    ("too few per class", npz(X=np.zeros((30, 2, 1)), y=np.r_[np.zeros(28), [1, 1]].astype(int)),
     {"filename": "d.npz"}, "too few samples per class"),
    ("csv that is binary", npz(X=np.zeros((3, 2, 1)), y=np.arange(3)), {"filename": "d.csv"},
     "not CSV|not UTF-8"),
    ("csv with nan", with_row(4, "1903,nan,0.5"),
     {"filename": "d.csv", "target": "sales", "time_column": "year"}, "NaN or infinite"),
    ("csv not numeric", with_row(6, "1905,12 units,0.5"),
     {"filename": "d.csv", "target": "sales", "time_column": "year"}, "is not a number"),
    ("csv time goes back", with_row(6, "1901,3.0,0.5"),
     {"filename": "d.csv", "target": "sales", "time_column": "year"}, "increase strictly"),
    ("csv without target", series_csv(), {"filename": "d.csv", "time_column": "year"},
     "name the target column"),
    ("unknown format", series_csv(), {"filename": "d.parquet"}, "cannot tell the format"),
    ("empty body", b"", {"filename": "d.csv"}, "empty"),
    ("bad name", series_csv(), {"name": "../etc/passwd", "format": "csv"}, "not allowed"),
]


@pytest.mark.parametrize(("case", "content", "params", "text"), BROKEN,
                         ids=[case[0] for case in BROKEN])
def test_broken_uploads_are_clear_422s_and_store_nothing(
    http: TestClient, case: str, content: bytes, params: dict[str, Any], text: str
) -> None:
    response = upload(http, content, **params)
    assert response.status_code == 422, (case, response.text)
    assert any(part in body_text(response) for part in text.split("|")), response.text
    assert http.get("/v1/datasets").json()["datasets"] == []


def test_over_the_size_limit_is_413(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'small.db'}", max_upload_bytes=4_000)
    with TestClient(create_app(settings)) as http:
        response = upload(http, series_csv(400), name="big", format="csv", target="sales")
        assert response.status_code == 413
        assert "at most 4,000 bytes" in body_text(response)
        assert http.get("/v1/datasets").json()["datasets"] == []
        client = Client(str(http.base_url), http=http)
        with pytest.raises(PayloadTooLargeError):
            client.upload_dataset(series_csv(400), filename="big.csv", target="sales")


def test_client_raises_dataset_error(client: Client) -> None:
    with pytest.raises(DatasetError, match="not an NPZ archive"):
        client.upload_dataset(b"nonsense", filename="x.npz")
    dataset = client.upload_dataset(classification_npz(), filename="ok.npz")
    assert client.dataset(dataset.id).name == "ok.npz"
    assert [d.id for d in client.datasets()] == [dataset.id]


def test_studies_refer_to_datasets_by_id(http: TestClient, client: Client) -> None:
    missing = http.post("/v1/studies", json=dataset_spec(99))
    assert missing.status_code == 422 and "data set 99 does not exist" in body_text(missing)
    both = http.post("/v1/studies", json=dataset_spec(1, task={"name": "adding", "dataset": 1}))
    assert both.status_code == 422 and "either" in body_text(both)
    dataset_id = upload(http, classification_npz(), filename="c.npz").json()["id"]
    window = dataset_spec(dataset_id, search_space={"params": {
        "window": {"type": "int", "low": 2, "high": 4}}})
    with pytest.raises(SpecError, match="window applies only to forecasting"):
        client.submit(window)
    with pytest.raises(SpecError, match="Extra inputs are not permitted"):
        client.submit(dataset_spec(dataset_id, task={"dataset": dataset_id, "window": 4}))
    study = client.submit(dataset_spec(dataset_id, objective={"metric": "val_accuracy"}))
    assert study.task == f"dataset-{dataset_id}" and study.spec["task"]["dataset"] == dataset_id
    assert study.baseline is not None and study.baseline.name == "majority_class"
    with pytest.raises(ConflictError, match="used by active studies"):
        client.delete_dataset(dataset_id)
    client.cancel(study.id)
    client.delete_dataset(dataset_id)


def run_to_evaluation(settings: Settings, client: Client, study_id: int) -> Any:
    worker = Worker(settings, worker_id="w", device="cpu")
    worker.store.initialize()
    deadline = time.monotonic() + 120
    while True:
        study = client.study(study_id)
        if study.evaluation is not None and study.evaluation.status not in ("pending", "running"):
            return study
        assert time.monotonic() < deadline, study
        if not worker.run_once():
            time.sleep(0.05)


def test_classification_dataset_study_end_to_end(
    http: TestClient, client: Client, sqlite_settings: Settings
) -> None:
    dataset = client.upload_dataset(classification_npz(60), filename="c.npz")
    study = client.submit(dataset_spec(dataset.id, objective={"metric": "val_accuracy"}))
    final = run_to_evaluation(sqlite_settings, client, study.id)
    evaluation = final.evaluation
    assert final.status == "completed" and evaluation.status == "done"
    assert set(evaluation.test) == {"loss", "accuracy", "f1_macro"}
    assert evaluation.seeds.metric == "test_accuracy" and len(evaluation.seeds.values) == 2
    assert [b.name for b in final.baselines] == ["majority_class"]
    assert final.baselines[0].test_value is not None
    # Once the study and its evaluation are done, the data set may go.
    client.delete_dataset(dataset.id)


def test_forecasting_dataset_study_with_window_search(
    http: TestClient, client: Client, sqlite_settings: Settings
) -> None:
    dataset = client.upload_dataset(series_csv(), filename="sales.csv", target="sales",
                                    time_column="year")
    assert dataset.kind == "forecasting"
    space = {"params": {**SPACE["params"], "window": {"type": "int", "low": 3, "high": 8}}}
    too_long = {"params": {**SPACE["params"], "window": {"type": "int", "low": 3, "high": 60}}}
    with pytest.raises(SpecError, match="this task allows"):
        client.submit(dataset_spec(dataset.id, search_space=too_long))
    study = client.submit(dataset_spec(dataset.id, search_space=space,
                                       task={"dataset": dataset.id, "horizon": 2},
                                       objective={"metric": "val_mae"}))
    final = run_to_evaluation(sqlite_settings, client, study.id)
    assert final.evaluation.status == "done" and "window" in final.evaluation.params
    assert final.evaluation.seeds.metric == "test_mae"
    (naive,) = final.baselines
    assert naive.name == "naive_last_value" and naive.metric == "val_mae"
    assert naive.value is not None and naive.test_value is not None
