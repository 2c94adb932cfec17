"""Inputs that expand: a ragged NPZ whose padding would take gigabytes is refused before any
allocation, on upload and on predict, with the server's peak memory measured; CSV prediction
input is bounded as it is read; predictions run a bounded number at once."""

from __future__ import annotations

import io
from threading import BoundedSemaphore
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from service.errors import DatasetError
from service.models._bundle import _series_rows
from tests.api.test_api_datasets import upload
from tests.api.test_api_model import evaluate, npz_bytes
from tests.factories import tiny_spec

MIB = 1024**2


def ragged_bomb() -> bytes:
    """10,000 one-step sequences and one of 20,000 steps: 30,000 floats, padded to 2e8."""
    lengths = np.array([1] * 10_000 + [20_000], dtype=np.int64)
    x = np.random.default_rng(0).normal(size=(int(lengths.sum()), 1))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, X=x, y=np.arange(len(lengths), dtype=np.float64),
                        lengths=lengths)
    return buffer.getvalue()


def api_of(http: TestClient) -> Any:
    """The FastAPI app inside the request-id middleware and the dashboard dispatcher."""
    return http.app.app.api  # type: ignore[attr-defined]


def peak_rss_growth(call: object) -> tuple[object, int]:
    """Run ``call()`` in this process (the server under TestClient); its peak RSS growth."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current RSS
    before = _status("VmRSS")
    result = call()  # type: ignore[operator]
    return result, _status("VmHWM") - before


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(field)


def test_a_padding_bomb_upload_is_refused_before_it_allocates(http: TestClient) -> None:
    bomb = ragged_bomb()
    assert len(bomb) < MIB
    response, growth = peak_rss_growth(
        lambda: upload(http, bomb, name="bomb.npz", kind="regression"))
    assert response.status_code == 422, response.text  # type: ignore[attr-defined]
    assert "pads to" in response.json()["detail"]  # type: ignore[attr-defined]
    assert growth < 100 * MIB, f"peak RSS grew by {growth / MIB:.0f} MiB"


def test_a_padding_bomb_prediction_is_refused_before_it_allocates(
    http: TestClient, sqlite_settings: Settings
) -> None:
    study_id = http.post("/v1/studies", json=tiny_spec(
        budget={"n_trials": 1, "max_epochs": 1})).json()["id"]
    evaluate(http, sqlite_settings, study_id)
    lengths = np.array([1] * 10_000 + [20_000], dtype=np.int64)
    bomb = npz_bytes(X=np.zeros((int(lengths.sum()), 2)), lengths=lengths)
    response, growth = peak_rss_growth(
        lambda: http.post(f"/v1/studies/{study_id}/predict", content=bomb))
    assert response.status_code == 422, response.text  # type: ignore[attr-defined]
    assert growth < 100 * MIB, f"peak RSS grew by {growth / MIB:.0f} MiB"
    # Steps and rows are capped too, whatever the bytes.
    long = http.post(f"/v1/studies/{study_id}/predict",
                     content=npz_bytes(X=np.zeros((1, 6_000, 2))))
    assert long.status_code == 422 and "at most 5,000" in long.json()["detail"]
    ok = http.post(f"/v1/studies/{study_id}/predict", content=npz_bytes(X=np.zeros((3, 8, 2))))
    assert ok.status_code == 200 and ok.json()["n"] == 3
    # A bounded number run at once; the rest are told to come back.
    slots: BoundedSemaphore = api_of(http).state.prediction_slots
    for _ in range(sqlite_settings.max_concurrent_predictions):
        slots.acquire()  # as if that many were running
    busy = http.post(f"/v1/studies/{study_id}/predict", content=npz_bytes(X=np.zeros((3, 8, 2))))
    for _ in range(sqlite_settings.max_concurrent_predictions):
        slots.release()
    assert busy.status_code == 429 and "retry" in busy.json()["detail"]


def test_csv_prediction_rows_are_bounded_as_they_are_read() -> None:
    content = ("v\n" + "1\n" * 50).encode()
    values, times = _series_rows(content, {"columns": ["v"]}, max_rows=50)
    assert values.shape == (50, 1) and times is None  # the model reads no season
    with pytest.raises(DatasetError, match="over 10 rows"):
        _series_rows(content, {"columns": ["v"]}, max_rows=10)
