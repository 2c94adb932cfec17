"""The Optuna studies the service creates carry their objectives' names, so the dashboard shows
``val_mse`` (or each objective of a multi-objective study) instead of "Objective 0"."""

from __future__ import annotations

import optuna
from fastapi.testclient import TestClient

from service.config import Settings
from service.store import StudyStore
from tests.factories import tiny_spec


def metric_names(settings: Settings, name: str) -> list[str] | None:
    store = StudyStore(settings)
    try:
        names = optuna.load_study(study_name=name, storage=store.optuna_storage).metric_names
        return None if names is None else list(names)
    finally:
        store.close()


def test_single_and_multi_objective_studies_name_their_metrics(
    http: TestClient, sqlite_settings: Settings
) -> None:
    single = http.post("/v1/studies", json=tiny_spec(
        name="named-mse", objective={"metric": "val_mse", "direction": "minimize"}))
    assert single.status_code == 201, single.text
    assert metric_names(sqlite_settings, "named-mse") == ["val_mse"]

    default = http.post("/v1/studies", json=tiny_spec(name="named-default"))
    assert metric_names(sqlite_settings, "named-default") == [
        default.json()["objective"]["metric"]] == ["val_loss"]

    multi = http.post("/v1/studies", json=tiny_spec(
        name="named-multi", also_minimize=["params", "latency_ms"], pruner={"name": "none"}))
    assert multi.status_code == 201, multi.text
    assert metric_names(sqlite_settings, "named-multi") == ["val_loss", "params", "latency_ms"]
