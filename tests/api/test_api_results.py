"""Importance, warm starts and Prometheus metrics on real (tiny) studies."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from service.store import StudyStore
from service.worker import Worker
from tests.factories import tiny_spec


def run_trials(settings: Settings, count: int) -> None:
    Worker(settings, worker_id="results-w", device="cpu").run_forever(max_trials=count)


def test_importance_ranks_the_learning_rate_and_notes_sampler_bias(
    http: TestClient, sqlite_settings: Settings
) -> None:
    spec = tiny_spec(
        sampler={"name": "random", "seed": 1},
        search_space={"params": {
            "cell": "gru", "batch_size": 16,
            "lr": {"type": "float", "low": 1e-5, "high": 3e-2, "log": True},
            "weight_decay": {"type": "float", "low": 0.0, "high": 1e-6},
        }},
        budget={"n_trials": 8, "max_epochs": 2},
    )
    study_id = http.post("/v1/studies", json=spec).json()["id"]
    early = http.get(f"/v1/studies/{study_id}/importance").json()
    assert early["importances"] == {} and "at least" in early["note"]
    run_trials(sqlite_settings, 8)
    result = http.get(f"/v1/studies/{study_id}/importance").json()
    assert result["evaluator"] == "PedAnovaImportanceEvaluator" and result["n_trials"] == 8
    ranked = sorted(result["importances"], key=result["importances"].get, reverse=True)
    assert ranked[0] == "lr", result
    assert result["note"] is None, "random search gives unbiased importances"
    tpe = http.post("/v1/studies", json=tiny_spec(sampler={"name": "tpe"},
                                                  budget={"n_trials": 4, "max_epochs": 1}))
    run_trials(sqlite_settings, 4)
    note = http.get(f"/v1/studies/{tpe.json()['id']}/importance").json()["note"]
    assert "TPE" in note


def test_enqueue_given_best_practice_and_earlier_trials(
    http: TestClient, sqlite_settings: Settings
) -> None:
    first = http.post("/v1/studies", json=tiny_spec(budget={"n_trials": 2, "max_epochs": 1}))
    run_trials(sqlite_settings, 2)
    spec = tiny_spec(search_space="lstm-gru", budget={"n_trials": 8, "max_epochs": 1})
    study_id = http.post("/v1/studies", json=spec).json()["id"]
    response = http.post(f"/v1/studies/{study_id}/enqueue", json={
        "trials": [{"params": {"cell": "gru", "hidden_size": 32, "lr": 0.005}}],
        "best_practice": True,
        "from_study": first.json()["id"], "top_k": 1,
    })
    assert response.status_code == 201, response.text
    enqueued = response.json()["enqueued"]
    sources = [e["source"] for e in enqueued]
    assert sources[0] == "user" and sources.count("best-practice") == 2
    assert any(s.startswith(f"study {first.json()['id']} trial") for s in sources)
    practice = {e["params"]["cell"]: e["params"] for e in enqueued
                if e["source"] == "best-practice"}
    assert practice["lstm"]["lr"] == pytest.approx(1e-3) and practice["lstm"]["grad_clip"] == 1
    run_trials(sqlite_settings, len(enqueued))
    trials = http.get(f"/v1/studies/{study_id}/trials").json()["trials"]
    assert trials[0]["params"]["hidden_size"] == 32 and trials[0]["params"]["lr"] == 0.005
    # Queue order: the given trial, study 1's best, then the best-practice pair.
    assert {t["params"]["cell"] for t in trials[2:4]} == {"lstm", "gru"}


def test_a_spec_without_warm_start_starts_from_the_sampler_alone(
    http: TestClient, sqlite_settings: Settings
) -> None:
    spec = tiny_spec(search_space="lstm-gru", budget={"n_trials": 4, "max_epochs": 1})
    del spec["warm_start"]
    # Asked for, the best-practice configurations run first: one per cell the space allows.
    asked = dict(spec, warm_start={"best_practice": True})
    created = http.post("/v1/studies", json=asked)
    assert created.status_code == 201, created.text
    assert created.json()["trials"]["waiting"] == 2
    run_trials(sqlite_settings, 2)
    trials = http.get(f"/v1/studies/{created.json()['id']}/trials").json()["trials"]
    assert [t["source"] for t in trials[:2]] == ["best-practice", "best-practice"]
    assert {t["params"]["cell"] for t in trials[:2]} == {"lstm", "gru"}
    assert all(t["params"]["lr"] == pytest.approx(1e-3) for t in trials[:2])
    # Left out, nothing is queued: the sampler draws every trial.
    created = http.post("/v1/studies", json=spec)
    assert created.status_code == 201, created.text
    assert created.json()["trials"]["waiting"] == 0


def test_a_spec_warm_starts_from_an_earlier_study_and_best_practice(
    http: TestClient, sqlite_settings: Settings
) -> None:
    first = http.post("/v1/studies", json=tiny_spec(budget={"n_trials": 2, "max_epochs": 1}))
    run_trials(sqlite_settings, 2)
    first_id = first.json()["id"]
    best = http.get(f"/v1/studies/{first_id}/best").json()
    spec = tiny_spec(search_space="lstm-gru", budget={"n_trials": 4, "max_epochs": 1},
                     warm_start={"from_study": first_id, "top_k": 1, "best_practice": True})
    created = http.post("/v1/studies", json=spec)
    assert created.status_code == 201, created.text
    assert created.json()["trials"]["waiting"] == 3
    run_trials(sqlite_settings, 3)
    trials = http.get(f"/v1/studies/{created.json()['id']}/trials").json()["trials"]
    assert [t["source"] for t in trials] == [f"study {first_id} trial {best['number']}",
                                             "best-practice", "best-practice"]
    assert trials[0]["params"]["lr"] == pytest.approx(best["params"]["lr"])
    assert {t["params"]["cell"] for t in trials[1:]} == {"lstm", "gru"}


@pytest.mark.parametrize(("warm_start", "status", "text"), [
    ({"from_study": 999}, 404, "999"),
    ({}, 422, "nothing to enqueue"),
    ({"best_practice": True, "trials": [{"params": {"cell": "gru"}}]}, 422, "do not fit"),
    ({"trials": [{"params": {"cell": "transformer"}}]}, 422, "outside"),
])
def test_a_bad_warm_start_refuses_the_spec_and_stores_nothing(
    http: TestClient, warm_start: dict[str, Any], status: int, text: str
) -> None:
    spec = tiny_spec(search_space="lstm-gru", budget={"n_trials": 2, "max_epochs": 1},
                     warm_start=warm_start)
    response = http.post("/v1/studies", json=spec)
    assert response.status_code == status, response.text
    assert text in response.json()["detail"]
    if status == 422:
        assert response.json()["errors"][0]["loc"][0] == "warm_start"
    assert http.get("/v1/studies").json()["studies"] == []


@pytest.mark.parametrize(("body", "status", "text"), [
    ({"trials": [{"params": {"cell": "transformer"}}]}, 422, "outside"),
    ({"trials": [{"params": {"depth": 3}}]}, 422, "not in this space"),
    ({}, 422, "nothing to enqueue"),
    ({"trials": [{"params": {"lr": 0.005}}] * 4}, 422, "room for 3"),
    ({"from_study": 999}, 404, "999"),
])
def test_enqueue_refusals(http: TestClient, body: dict[str, Any], status: int,
                          text: str) -> None:
    study_id = http.post("/v1/studies", json=tiny_spec()).json()["id"]
    response = http.post(f"/v1/studies/{study_id}/enqueue", json=body)
    assert response.status_code == status, response.text
    assert text in response.json()["detail"]


def test_enqueue_into_a_finished_study_is_a_conflict(http: TestClient) -> None:
    study_id = http.post("/v1/studies", json=tiny_spec()).json()["id"]
    http.post(f"/v1/studies/{study_id}/cancel")
    response = http.post(f"/v1/studies/{study_id}/enqueue", json={"best_practice": True})
    assert response.status_code == 409


def test_prometheus_metrics(http: TestClient, sqlite_settings: Settings) -> None:
    http.post("/v1/studies", json=tiny_spec(budget={"n_trials": 2, "max_epochs": 1}))
    run_trials(sqlite_settings, 2)
    http.post("/v1/studies", json=tiny_spec())
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'rnntune_studies{status="completed"} 1' in text
    assert 'rnntune_studies{status="queued"} 1' in text
    assert 'rnntune_trials{state="complete"} 2' in text
    assert "rnntune_trial_duration_seconds_count 2" in text
    assert 'rnntune_trial_duration_seconds_bucket{le="+Inf"} 2' in text
    assert "rnntune_heartbeat_age_max_seconds 0.0" in text


def test_heartbeat_ages_of_running_trials(sqlite_settings: Settings) -> None:
    store = StudyStore(sqlite_settings)
    store.initialize()
    from tests.factories import create_study

    record = create_study(store, tiny_spec())
    study = store.load_study(record)
    trial = study.ask()
    store.optuna_storage.record_heartbeat(trial._trial_id)
    [(study_id, number, age)] = store.heartbeat_ages()
    assert (study_id, number) == (record.id, 0) and 0 <= age < 5
    store.close()
