"""API keys and scopes, ownership, limits, and the refusal to serve openly beyond loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.api._auth import InsecureStartError, prepare_keys
from service.cli import main
from service.config import Settings
from service.store import StudyStore
from tests.factories import make_settings, tiny_spec


@pytest.fixture
def keys(sqlite_settings: Settings) -> dict[str, str]:
    store = StudyStore(sqlite_settings)
    store.initialize()
    tokens = {scope: store.keys.create(name=scope, scope=scope)[1]  # type: ignore[arg-type]
              for scope in ("read", "submit", "admin")}
    tokens["other"] = store.keys.create(name="other", scope="submit")[1]
    store.close()
    return tokens


@pytest.fixture
def http(sqlite_settings: Settings, keys: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_settings)) as client:
        yield client


def as_key(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_once_keys_exist_requests_need_one(http: TestClient, keys: dict[str, str]) -> None:
    missing = http.get("/v1/studies")
    assert missing.status_code == 401
    assert "Bearer" in missing.headers["www-authenticate"]
    assert missing.json()["code"] == "AuthenticationError"
    assert http.get("/v1/studies", headers=as_key("rk_wrong")).status_code == 401
    assert http.get("/healthz").status_code == 200, "liveness stays open"
    for headers, auth in ((as_key(keys["read"]), None), ({"x-api-key": keys["read"]}, None),
                          ({}, ("user", keys["read"]))):
        assert http.get("/v1/studies", headers=headers, auth=auth).status_code == 200


def test_scopes_and_ownership(http: TestClient, keys: dict[str, str],
                              sqlite_settings: Settings) -> None:
    assert http.post("/v1/studies", json=tiny_spec(), headers=as_key(keys["read"])
                     ).status_code == 403
    mine = http.post("/v1/studies", json=tiny_spec(name="mine"),
                     headers=as_key(keys["submit"])).json()["id"]
    theirs = http.post("/v1/studies", json=tiny_spec(name="theirs"),
                       headers=as_key(keys["other"])).json()["id"]

    def names(token: str) -> list[str]:
        listed = http.get("/v1/studies", headers=as_key(token)).json()["studies"]
        return [s["name"] for s in listed]

    assert names(keys["submit"]) == ["mine"]
    assert names(keys["read"]) == names(keys["admin"]) == ["mine", "theirs"]
    assert http.get(f"/v1/studies/{theirs}", headers=as_key(keys["submit"])).status_code == 404
    assert http.post(f"/v1/studies/{theirs}/cancel",
                     headers=as_key(keys["submit"])).status_code == 404
    assert http.post(f"/v1/studies/{mine}/cancel", headers=as_key(keys["read"])
                     ).status_code == 403
    assert http.post(f"/v1/studies/{mine}/cancel", headers=as_key(keys["submit"])
                     ).status_code == 200
    assert http.delete(f"/v1/studies/{theirs}", headers=as_key(keys["admin"])).status_code == 204
    store = StudyStore(sqlite_settings)
    owner = store.get(mine).owner_key_id
    assert owner is not None and store.keys.get(owner).name == "submit"
    store.close()


def test_revoked_keys_stop_working(http: TestClient, keys: dict[str, str],
                                   sqlite_settings: Settings) -> None:
    store = StudyStore(sqlite_settings)
    key_id = next(k.id for k in store.keys.list() if k.name == "read")
    store.keys.revoke(key_id)
    store.close()
    assert http.get("/v1/studies", headers=as_key(keys["read"])).status_code == 401


def test_keys_are_stored_hashed(keys: dict[str, str], sqlite_settings: Settings) -> None:
    store = StudyStore(sqlite_settings)
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT key_hash, prefix FROM rnntune_api_keys").all()
    store.close()
    stored = " ".join(f"{h} {p}" for h, p in rows)
    assert all(token not in stored for token in keys.values())
    assert all(len(h) == 64 for h, _ in rows)


def limited(tmp_path: Path, **limits: Any) -> TestClient:
    return TestClient(create_app(make_settings(f"sqlite:///{tmp_path / 'l.db'}", **limits)))


def test_active_studies_per_key_is_a_429(tmp_path: Path) -> None:
    with limited(tmp_path, max_active_studies_per_key=2) as http:
        for _ in range(2):
            assert http.post("/v1/studies", json=tiny_spec()).status_code == 201
        refused = http.post("/v1/studies", json=tiny_spec())
        assert refused.status_code == 429 and "2" in refused.json()["detail"]
        first = http.get("/v1/studies").json()["studies"][0]["id"]
        http.post(f"/v1/studies/{first}/cancel")
        assert http.post("/v1/studies", json=tiny_spec()).status_code == 201


@pytest.mark.parametrize(
    ("limits", "change", "status", "text"),
    [
        ({"max_trials_per_study": 5}, {"budget": {"n_trials": 6}}, 422, "limit of 5"),
        ({"max_epochs_per_trial": 3}, {"budget": {"max_epochs": 4}}, 422, "limit of 3"),
        ({"max_seq_len": 100}, {"task": {"name": "adding", "seq_len": 200}}, 422,
         "length 200"),
        # The window a forecasting space searches is the trials' sequence length.
        ({"max_seq_len": 30}, {"task": {"name": "sunspots", "window": 12},
                               "search_space": {"params": {
                                   "cell": "gru", "hidden_size": 8,
                                   "window": {"type": "int", "low": 4, "high": 40}}}},
         422, "length 40"),
        ({}, {"search_space": {"params": {"cell": "lstm",
                                          "hidden_size": {"type": "int", "low": 8,
                                                          "high": 4096},
                                          "num_layers": {"type": "int", "low": 1, "high": 8}}}},
         422, "hidden_size=4096"),
        ({"max_activation_bytes": 10_000_000},
         {"search_space": {"params": {"cell": "gru", "hidden_size": 256,
                                      "batch_size": {"type": "categorical",
                                                     "choices": [32, 4096]}}}},
         422, "batch_size=4096"),
        ({"max_body_bytes": 1_000}, {"name": "x" * 90, "task": {"name": "adding",
                                                                "padding": "y" * 2_000}},
         413, "limit"),
    ],
)
def test_limits_are_clear_4xx(tmp_path: Path, limits: dict[str, Any], change: dict[str, Any],
                              status: int, text: str) -> None:
    with limited(tmp_path, **limits) as http:
        response = http.post("/v1/studies", json=tiny_spec(**change))
        assert response.status_code == status, response.text
        assert text in response.json()["detail"]
        assert http.get("/v1/studies").json()["studies"] == []


def test_serving_beyond_loopback_needs_keys(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'open.db'}", host="0.0.0.0")
    store = StudyStore(settings)
    store.initialize()
    with pytest.raises(InsecureStartError, match="rnntune keys create"):
        prepare_keys(settings, store.keys)
    prepare_keys(settings.model_copy(update={"auth": "off"}), store.keys)  # explicit opt-out
    bootstrap = settings.model_copy(update={"bootstrap_admin_key": "b" * 32})
    prepare_keys(bootstrap, store.keys)
    assert [k.scope for k in store.keys.list()] == ["admin"]
    assert store.keys.lookup("b" * 32) is not None
    store.close()
    assert main(["serve", "--host", "0.0.0.0", "--workers", "0", "--database-url",
                 f"sqlite:///{tmp_path / 'other.db'}"]) == 2


def test_keys_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    assert main(["keys", "create", "--name", "ci", "--scope", "read",
                 "--database-url", url]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("rk_") and len(token) > 40
    assert main(["keys", "list", "--database-url", url]) == 0
    listing = capsys.readouterr().out
    assert "ci" in listing and "read" in listing and "active" in listing
    assert token not in listing
    assert main(["keys", "revoke", "1", "--database-url", url]) == 0
    assert main(["keys", "list", "--database-url", url]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["keys", "revoke", "99", "--database-url", url]) == 2


def test_the_active_study_quota_holds_under_concurrent_submissions(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with limited(tmp_path, max_active_studies_per_key=3) as http:
        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(
                lambda _: http.post("/v1/studies", json=tiny_spec()).status_code, range(12)))
        assert codes.count(201) <= 3 and set(codes) <= {201, 429}
        assert len(http.get("/v1/studies").json()["studies"]) == codes.count(201)


@pytest.mark.parametrize("path", ["/v1/tasks", "/v1/search-spaces", "/v1/search-spaces/lstm",
                                  "/docs", "/openapi.json", "/metrics"])
def test_every_path_but_healthz_needs_a_key_once_keys_exist(
    http: TestClient, keys: dict[str, str], path: str
) -> None:
    assert http.get(path).status_code == 401
    assert http.get(path, headers=as_key(keys["read"])).status_code == 200
    assert http.get("/healthz").status_code == 200


def test_metrics_count_only_the_studies_a_key_may_see(
    http: TestClient, keys: dict[str, str]
) -> None:
    for owner in ("submit", "submit", "other"):
        response = http.post("/v1/studies", json=tiny_spec(), headers=as_key(keys[owner]))
        assert response.status_code == 201
    own = http.get("/v1/studies", headers=as_key(keys["other"])).json()["studies"]
    [theirs] = own

    def queued(key: str) -> str:
        text = http.get("/metrics", headers=as_key(keys[key])).text
        return next(line for line in text.splitlines()
                    if line.startswith('rnntune_studies{status="queued"}'))

    assert queued("read").endswith(" 3")
    assert queued("submit").endswith(" 2")
    assert queued("other").endswith(" 1") and theirs["status"] == "queued"
