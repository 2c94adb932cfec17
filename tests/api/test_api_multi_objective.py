"""Multi-objective studies (validation loss against size or latency) and constraints."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from service.worker import Worker
from tests.factories import tiny_spec

SPACE = {"params": {"cell": {"type": "categorical", "choices": ["gru", "lstm"]},
                    "hidden_size": {"type": "int", "low": 2, "high": 24},
                    "lr": 0.01, "batch_size": 32}}


def run(settings: Settings, trials: int) -> None:
    Worker(settings, worker_id="mo-w", device="cpu").run_forever(max_trials=trials)


def test_loss_against_parameter_count_gives_a_pareto_front(
    http: TestClient, sqlite_settings: Settings
) -> None:
    spec = tiny_spec(search_space=SPACE, also_minimize=["params", "latency_ms"],
                     budget={"n_trials": 6, "max_epochs": 2}, sampler={"name": "tpe", "seed": 0})
    created = http.post("/v1/studies", json=spec)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]
    run(sqlite_settings, 6)
    study = http.get(f"/v1/studies/{study_id}").json()
    assert study["objectives"] == ["val_loss", "params", "latency_ms"]
    assert study["status"] == "completed" and study["trials"]["complete"] == 6
    front = study["pareto_front"]
    assert front and all(len(p["values"]) == 3 for p in front)
    trials = http.get(f"/v1/studies/{study_id}/trials").json()["trials"]
    values = {t["number"]: t["values"] for t in trials}
    for point in front:  # nothing on the front is beaten on every objective
        for other in values.values():
            assert not all(o <= p for o, p in zip(other, point["values"], strict=True)) or \
                other == point["values"]
    smallest = min(trials, key=lambda t: t["values"][1])
    assert smallest["number"] in {p["number"] for p in front}, "the smallest model is optimal"
    assert http.get(f"/v1/studies/{study_id}/importance").json()["note"].endswith(
        "(val_loss).")
    assert "Pareto front" in http.get(f"/v1/studies/{study_id}/report").text


def test_constraints_keep_infeasible_trials_off_the_front(
    http: TestClient, sqlite_settings: Settings
) -> None:
    spec = tiny_spec(search_space=SPACE, also_minimize=["params"],
                     constraints={"max_params": 400}, sampler={"name": "random", "seed": 2},
                     budget={"n_trials": 6, "max_epochs": 1})
    study_id = http.post("/v1/studies", json=spec).json()["id"]
    run(sqlite_settings, 6)
    study = http.get(f"/v1/studies/{study_id}").json()
    trials = {t["number"]: t for t in http.get(f"/v1/studies/{study_id}/trials").json()["trials"]}
    assert any(t["values"][1] > 400 for t in trials.values()), "the space allows big models"
    assert all(trials[p["number"]]["values"][1] <= 400 for p in study["pareto_front"])


@pytest.mark.parametrize(("change", "text"), [
    ({"pruner": {"name": "median"}}, "cannot use the 'median' pruner"),
    ({"pruner": {"name": "none"}, "sampler": {"name": "cmaes"}}, "optimises one objective"),
    ({"pruner": {"name": "none"}, "also_minimize": ["params", "params"]}, "repeats"),
    ({"pruner": {"name": "none"}, "also_minimize": ["flops"]}, "params"),
])
def test_multi_objective_refusals(http: TestClient, change: dict[str, Any], text: str) -> None:
    spec = {**tiny_spec(also_minimize=["params"]), **change}
    response = http.post("/v1/studies", json=spec)
    assert response.status_code == 422
    assert text in response.text
