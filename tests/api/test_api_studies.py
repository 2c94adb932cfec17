"""REST API behaviour: submit, validation errors, listing, cancel, delete, catalog, dashboard."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from service.client import Client
from service.config import Settings
from service.errors import ConflictError, MalformedDocumentError, NotFoundError, SpecError
from service.worker import Worker
from tests.factories import tiny_spec


def submit(http: TestClient, spec: Any, *, as_yaml: bool = False) -> Any:
    if as_yaml:
        return http.post("/v1/studies", content=yaml.safe_dump(spec),
                         headers={"content-type": "application/yaml"})
    return http.post("/v1/studies", json=spec)


def test_submit_json_and_yaml(http: TestClient) -> None:
    created = submit(http, tiny_spec(name="as-json"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "queued" and body["name"] == "as-json"
    assert body["baseline"]["value"] == pytest.approx(1 / 6)
    assert body["spec"]["search_space"]["params"]["cell"]["choices"] == ["gru", "lstm"]
    assert submit(http, tiny_spec(name="as-yaml"), as_yaml=True).status_code == 201
    names = [s["name"] for s in http.get("/v1/studies").json()["studies"]]
    assert names == ["as-json", "as-yaml"]


def test_the_study_list_comes_in_pages_with_its_total(http: TestClient) -> None:
    for i in range(5):
        assert submit(http, tiny_spec(name=f"s{i}", tags=["even" if i % 2 == 0 else "odd"])
                      ).status_code == 201
    assert http.post("/v1/studies/2/cancel").status_code == 200
    page = http.get("/v1/studies", params={"limit": 2, "offset": 1}).json()
    assert [s["name"] for s in page["studies"]] == ["s1", "s2"]
    assert (page["total"], page["offset"], page["limit"]) == (5, 1, 2)
    default = http.get("/v1/studies").json()
    assert default["limit"] == 100 and len(default["studies"]) == default["total"] == 5
    cancelled = http.get("/v1/studies", params={"status": "cancelled"}).json()
    assert [s["name"] for s in cancelled["studies"]] == ["s1"] and cancelled["total"] == 1
    even = http.get("/v1/studies", params={"tag": "even", "limit": 2, "offset": 1}).json()
    assert [s["name"] for s in even["studies"]] == ["s2", "s4"] and even["total"] == 3
    past_the_end = http.get("/v1/studies", params={"offset": 10}).json()
    assert past_the_end["studies"] == [] and past_the_end["total"] == 5
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}):
        assert http.get("/v1/studies", params=bad).status_code == 422


def test_the_client_reads_every_page_of_the_study_list(http: TestClient, client: Client) -> None:
    for i in range(5):
        assert submit(http, tiny_spec(name=f"c{i}")).status_code == 201
    names = ["c0", "c1", "c2", "c3", "c4"]
    assert [s.name for s in client.studies(page_size=2)] == names
    assert [s.name for s in client.studies()] == names


def test_named_search_space_is_inlined(http: TestClient) -> None:
    body = submit(http, tiny_spec(search_space="lstm")).json()
    assert "lr" in body["spec"]["search_space"]["params"]


@pytest.mark.parametrize(
    ("change", "loc_part", "text"),
    [
        ({"task": {"name": "sorting"}}, "task", "adding"),
        ({"task": {"name": "adding", "seq_len": -5}}, "seq_len", "greater than"),
        ({"search_space": {"params": {"cell": {"type": "categorical", "choices": []}}}},
         "choices", "non-empty"),
        ({"search_space": {"params": {"lr": {"type": "float", "low": 0.1, "high": 0.01}}}},
         "lr", "less than high"),
        ({"search_space": {"params": {"hidden_size": {"type": "int", "low": 0, "high": 8,
                                                       "log": True}}}}, "low", "low > 0"),
        ({"search_space": "nonexistent"}, "search_space", "lstm"),
        ({"budget": {"n_trials": -1}}, "n_trials", "greater than"),
        ({"budget": {"max_epochs": 0}}, "max_epochs", "greater than"),
        ({"sampler": {"name": "bayes"}}, "sampler", "tpe"),
        ({"pruner": {"name": "asha"}}, "pruner", "hyperband"),
        ({"pruner": {"name": "median", "warmup": 3}}, "warmup", "allowed options"),
        ({"objective": {"metric": "val_accuracy"}}, "metric", "val_mse"),
        ({"budget_typo": 3}, "budget_typo", "allowed fields"),
    ],
)
def test_bad_specs_are_422_naming_the_field_and_create_nothing(
    http: TestClient, change: dict[str, Any], loc_part: str, text: str
) -> None:
    response = submit(http, tiny_spec(**change))
    assert response.status_code == 422, response.text
    error = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    locs = [".".join(map(str, d["loc"])) for d in error["errors"]]
    assert any(loc_part in loc for loc in locs), locs
    assert text in json.dumps(error)
    assert http.get("/v1/studies").json()["studies"] == []


@pytest.mark.parametrize("body", ["task: [unclosed", "", "- just\n- a list\n", "{not json"])
def test_malformed_documents_are_400(http: TestClient, body: str) -> None:
    response = http.post("/v1/studies", content=body,
                         headers={"content-type": "application/yaml"})
    assert response.status_code == 400
    assert response.json()["code"] == "MalformedDocumentError"
    assert response.json()["status"] == 400


def test_duplicate_name_is_409(http: TestClient) -> None:
    assert submit(http, tiny_spec(name="twice")).status_code == 201
    response = submit(http, tiny_spec(name="twice"))
    assert response.status_code == 409
    assert len(http.get("/v1/studies").json()["studies"]) == 1


def test_unknown_study_is_404_everywhere(http: TestClient) -> None:
    for method, path in [("GET", "/v1/studies/42"), ("GET", "/v1/studies/42/trials"),
                         ("GET", "/v1/studies/42/best"), ("POST", "/v1/studies/42/cancel"),
                         ("DELETE", "/v1/studies/42")]:
        response = http.request(method, path)
        assert response.status_code == 404, (method, path)
        assert "42" in response.json()["detail"]


def test_study_runs_and_reports_trials_best_and_counts(
    http: TestClient, client: Client, sqlite_settings: Settings
) -> None:
    study = client.submit(tiny_spec(budget={"n_trials": 3, "max_epochs": 2}))
    with pytest.raises(NotFoundError, match="no completed trial"):
        client.best(study.id)
    Worker(sqlite_settings, worker_id="test-worker", device="cpu").run_forever(max_trials=3)
    done = client.study(study.id)
    assert done.status == "completed" and done.stop_reason == "budget"
    assert done.trials.finished == 3 and done.trials.complete == 3
    assert done.best is not None
    page = client.trials(study.id, offset=1, limit=1)
    assert page.total == 3 and [t.number for t in page.trials] == [1]
    trial = page.trials[0]
    assert trial.state == "complete" and trial.worker == "test-worker" and trial.device == "cpu"
    assert sorted(trial.intermediate_values) == [1, 2]
    assert [e.epoch for e in trial.epochs] == [1, 2]
    assert all(e.grad_norm_max >= e.grad_norm_mean > 0 for e in trial.epochs)  # type: ignore[operator]
    assert trial.duration_s is not None and trial.duration_s > 0
    best = client.best(study.id)
    assert best.value == done.best.value == min(t.value for t in client.all_trials(study.id))  # type: ignore[type-var]
    assert client.trials(study.id, state="pruned").total == 0


def test_cancel_then_delete(client: Client) -> None:
    study = client.submit(tiny_spec())
    assert client.cancel(study.id).status == "cancelled"
    with pytest.raises(ConflictError):
        client.cancel(study.id)
    client.delete(study.id)
    with pytest.raises(NotFoundError):
        client.study(study.id)


def test_client_raises_the_services_own_errors(client: Client) -> None:
    with pytest.raises(SpecError) as caught:
        client.submit(tiny_spec(sampler={"name": "bayes"}))
    assert any("sampler" in loc for loc, _ in caught.value.details)
    with pytest.raises(MalformedDocumentError):
        client.submit("task: [")


def test_catalog_health_and_docs(http: TestClient) -> None:
    tasks = http.get("/v1/tasks").json()
    assert [t["name"] for t in tasks] == ["adding", "copy_memory", "japanese_vowels", "sunspots"]
    assert "val_mse" in tasks[0]["metrics"]
    spaces = {s["name"] for s in http.get("/v1/search-spaces").json()}
    assert {"rnn", "lstm", "gru", "mixed"} <= spaces
    assert http.get("/v1/search-spaces/mixed").json()["params"]["dropout"]["when"] == {
        "num_layers": {"gt": 1}
    }
    assert http.get("/v1/search-spaces/nope").status_code == 422
    assert http.get("/healthz").json()["status"] == "ok"
    assert http.get("/docs").status_code == 200
    schema = http.get("/openapi.json").json()
    assert "/v1/studies/{study_id}/trials" in schema["paths"]
    missing = http.get("/v1/no-such-route")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no route GET /v1/no-such-route; see /docs"


def test_dashboard_reads_our_database_and_is_read_only(http: TestClient) -> None:
    study_id = submit(http, tiny_spec(name="seen-by-dashboard")).json()["id"]
    listed = http.get("/api/studies")
    assert listed.status_code == 200
    names = [s["study_name"] for s in listed.json()["study_summaries"]]
    assert "seen-by-dashboard" in names
    detail = http.get(f"/api/studies/{study_id}", params={"after": 0})
    assert detail.status_code == 200
    page = http.get("/dashboard", headers={"accept-encoding": "gzip"})
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert http.delete(f"/api/studies/{study_id}").status_code == 403
    assert http.get(f"/v1/studies/{study_id}").status_code == 200


def test_dashboard_writes_need_an_admin_key(sqlite_settings: Settings) -> None:
    from service.api import create_app
    from service.store import StudyStore

    store = StudyStore(sqlite_settings)
    store.initialize()
    _, admin = store.keys.create(name="ops", scope="admin")
    _, reader = store.keys.create(name="viewer", scope="read")
    store.close()
    with TestClient(create_app(sqlite_settings)) as http:
        study_id = submit_as(http, admin, tiny_spec()).json()["id"]
        assert http.get("/api/studies").status_code == 401
        assert http.get("/api/studies", auth=("any", reader)).status_code == 200
        denied = http.delete(f"/api/studies/{study_id}", auth=("any", reader))
        assert denied.status_code == 403
        # The service's own studies are deleted through the service, never renamed.
        for method, path in (("DELETE", f"/api/studies/{study_id}"),
                             ("POST", f"/api/studies/{study_id}/rename")):
            refused = http.request(method, path, auth=("any", admin), json={"study_name": "x"})
            assert refused.status_code == 409, refused.text
            assert f"DELETE /v1/studies/{study_id}" in refused.json()["detail"]
        assert http.get(f"/v1/studies/{study_id}", auth=("any", admin)).status_code == 200
        import optuna

        store = StudyStore(sqlite_settings)
        own = optuna.create_study(study_name="an-own-study", storage=store.optuna_storage)
        store.close()
        allowed = http.delete(f"/api/studies/{own._study_id}", auth=("any", admin))
        assert allowed.status_code in (200, 204)


def submit_as(http: TestClient, token: str, spec: Any) -> Any:
    return http.post("/v1/studies", json=spec, headers={"authorization": f"Bearer {token}"})


def test_trial_pages_link_retries_both_ways(http: TestClient, sqlite_settings: Settings) -> None:
    from optuna.trial import TrialState

    from service.store import StudyStore
    from service.store._stale import requeue

    study_id = submit(http, tiny_spec(budget={"n_trials": 5, "max_epochs": 1})).json()["id"]
    store = StudyStore(sqlite_settings)
    study = store.load_study(store.get(study_id))
    for value in (0.3, 0.1):
        study.tell(study.ask(), value)
    lost = study.ask()
    study.tell(lost, state=TrialState.FAIL)
    requeue(study, study.trials[lost.number])
    store.close()
    page = http.get(f"/v1/studies/{study_id}/trials", params={"offset": 1, "limit": 2}).json()
    assert page["total"] == 4 and [t["number"] for t in page["trials"]] == [1, 2]
    assert page["trials"][1]["state"] == "fail" and page["trials"][1]["retried_by"] == 3
    waiting = http.get(f"/v1/studies/{study_id}/trials", params={"state": "waiting"}).json()
    assert waiting["total"] == 1 and waiting["trials"][0]["retry_of"] == 2
    complete = http.get(f"/v1/studies/{study_id}/trials", params={"state": "complete"}).json()
    assert [t["value"] for t in complete["trials"]] == [0.3, 0.1]
    study_json = http.get(f"/v1/studies/{study_id}").json()
    assert study_json["trials"]["retried"] == 1 and study_json["trials"]["finished"] == 2
    assert study_json["best"]["number"] == 1
