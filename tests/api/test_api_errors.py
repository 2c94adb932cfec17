"""Every error is an RFC 9457 problem with a request id, and nothing internal leaks."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import update

from service.api import create_app
from service.config import Settings
from service.store import StudyStore
from service.store._tables import studies
from tests.factories import tiny_spec

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "code", "request_id"}


def test_problem_shape_and_request_id_echo(http: TestClient) -> None:
    response = http.post("/v1/studies", json=tiny_spec(sampler={"name": "bayes"}),
                         headers={"x-request-id": "trace-123"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "trace-123"
    problem = response.json()
    assert set(problem) >= PROBLEM_KEYS
    assert problem["status"] == 422 and problem["instance"] == "/v1/studies"
    assert problem["code"] == "UnknownNameError"
    assert problem["type"] == "urn:rnntune:problem:unknown-name-error"
    assert problem["request_id"] == "trace-123"
    assert problem["errors"][0]["loc"] == ["sampler", "name"]


def test_generated_request_ids_are_unique_and_unsafe_ones_replaced(http: TestClient) -> None:
    first = http.get("/healthz").headers["x-request-id"]
    second = http.get("/healthz").headers["x-request-id"]
    assert first != second and len(first) == 32
    injected = http.get("/healthz", headers={"x-request-id": "a\\nfake log line"})
    assert injected.headers["x-request-id"] != "a\\nfake log line"


def test_http_level_errors_are_problems_too(http: TestClient) -> None:
    for response, status in ((http.get("/v1/nothing-here"), 404),
                             (http.put("/v1/studies"), 405),
                             (http.get("/v1/studies/not-a-number"), 422)):
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        assert set(response.json()) >= PROBLEM_KEYS


def test_an_unexpected_fault_is_a_500_without_internals(sqlite_settings: Settings) -> None:
    with TestClient(create_app(sqlite_settings), raise_server_exceptions=False) as http:
        study_id = http.post("/v1/studies", json=tiny_spec()).json()["id"]
        store = StudyStore(sqlite_settings)
        with store.engine.begin() as conn:  # a row damaged outside the service
            conn.execute(update(studies).where(studies.c.id == study_id).values(spec={}))
        store.close()
        response = http.get(f"/v1/studies/{study_id}", headers={"x-request-id": "boom-1"})
    assert response.status_code == 500
    problem = response.json()
    assert problem["code"] == "InternalError" and "boom-1" in problem["detail"]
    text = response.text
    assert "Traceback" not in text and "KeyError" not in text and ".py" not in text


def test_openapi_documents_problem_responses(http: TestClient) -> None:
    schema = http.get("/openapi.json").json()
    responses = schema["paths"]["/v1/studies"]["post"]["responses"]
    assert "application/problem+json" in responses["422"]["content"]
    assert "Problem" in schema["components"]["schemas"]


def test_a_problem_quoting_a_lone_surrogate_is_still_a_4xx(http: TestClient) -> None:
    # "\ud800" is a legal JSON escape but not encodable as UTF-8; the message quotes it.
    body = '{"name": "x", "over": {"\\ud800": [1]}, "template": {}}'
    response = http.post("/v1/sweeps", content=body,
                         headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "\ud800" in response.json()["detail"]
