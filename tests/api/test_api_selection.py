"""The API keeps the selection step's share of the budget out of the search."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import tiny_spec


def test_submitted_study_searches_the_budget_less_the_selection_runs(http: TestClient) -> None:
    spec = tiny_spec(budget={"n_trials": 20, "max_epochs": 1})  # 3 seeds: k=2, 4 re-runs
    study = http.post("/v1/studies", json=spec).json()
    assert study["budget"]["n_trials"] == 20 and study["search_trials"] == 16
    off = tiny_spec(budget={"n_trials": 20, "max_epochs": 1}, evaluation={"select_top_k": 0})
    assert http.post("/v1/studies", json=off).json()["search_trials"] == 20


def test_a_bad_top_k_is_a_422_naming_the_field(http: TestClient) -> None:
    response = http.post("/v1/studies", json=tiny_spec(evaluation={"select_top_k": -1}))
    assert response.status_code == 422
    assert "select_top_k" in response.text
