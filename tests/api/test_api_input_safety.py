"""Hostile input: YAML tricks, names that try to leave their folders, absurd numbers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.factories import tiny_spec


def post_yaml(http: TestClient, text: str) -> object:
    return http.post("/v1/studies", content=text, headers={"content-type": "application/yaml"})


def test_yaml_aliases_are_refused(http: TestClient) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    response = post_yaml(http, bomb)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "aliases" in response.json()["detail"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system ['true']",
                                 "!!python/name:os.system"])
def test_yaml_tags_that_build_objects_are_refused(http: TestClient, tag: str) -> None:
    response = post_yaml(http, f"name: {tag}\ntask: {{name: adding}}\nsearch_space: lstm\n")
    assert response.status_code in (400, 422)  # type: ignore[attr-defined]
    assert http.get("/v1/studies").json()["studies"] == []


@pytest.mark.parametrize("name", ["../../etc/passwd", "lstm/../gru", "/etc/passwd", "lstm\x00"])
def test_search_space_names_cannot_leave_their_folder(http: TestClient, name: str) -> None:
    response = http.post("/v1/studies", json=tiny_spec(search_space=name))
    assert response.status_code == 422
    assert "valid search spaces are" in response.json()["detail"]


@pytest.mark.parametrize("name", ["../x", "a/b", "a b", "-leading", "x" * 101, "é"])
def test_study_names_are_plain(http: TestClient, name: str) -> None:
    assert http.post("/v1/studies", json=tiny_spec(name=name)).status_code == 422


@pytest.mark.parametrize("body", ['{"task": {"name": "adding", "seq_len": 1e400}}',
                                  '{"budget": {"n_trials": 99999999999999999999999}}',
                                  '{"search_space": {"params": {"lr": {"type": "float", '
                                  '"low": 1e-400, "high": 1e400}}}}'])
def test_absurd_numbers_are_4xx_not_500(http: TestClient, body: str) -> None:
    response = http.post("/v1/studies", content=body,
                         headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500


def test_exponent_numbers_are_numbers_in_yaml_and_json(http: TestClient) -> None:
    yaml_body = ("task: {name: adding, seq_len: 8, n_train: 64, n_val: 32, n_test: 32}\n"
                 "search_space: {params: {lr: {type: float, low: 1e-5, high: 1e-2, "
                 "log: true}}}\n")
    assert post_yaml(http, yaml_body).status_code == 201  # type: ignore[attr-defined]
    spec = tiny_spec(search_space={"params": {"lr": {"type": "float", "low": 1e-05,
                                                     "high": 1e-02, "log": True}}})
    response = http.post("/v1/studies", json=spec)
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["search_space"]["params"]["lr"]["low"] == 1e-05


@pytest.mark.parametrize("path", ["/v1/studies", "/v1/sweeps"])
def test_an_integer_of_thousands_of_digits_is_a_400(http: TestClient, path: str) -> None:
    response = http.post(path, content='{"name": "s", "n": ' + "9" * 5000 + "}",
                         headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert "number out of range" in response.json()["detail"]
