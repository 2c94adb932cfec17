"""Tags and sweeps: several studies from one template in one request, each named and tagged,
found again by tag; a sweep is created whole or not at all."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from service.api import create_app
from service.api._sweeps import expand_sweep
from service.client import Client
from service.errors import ConflictError, SpecError
from service.schemas import SweepSpec
from tests.factories import make_settings, tiny_spec


def template(**overrides: Any) -> dict[str, Any]:
    spec = tiny_spec(**overrides)
    spec.pop("name", None)
    return spec


def names(http: TestClient, **params: str) -> list[str]:
    response = http.get("/v1/studies", params=params)
    assert response.status_code == 200, response.text
    return [s["name"] for s in response.json()["studies"]]


def test_a_study_keeps_its_tags_and_the_list_filters_by_tag(http: TestClient) -> None:
    tagged = http.post("/v1/studies", json=tiny_spec(name="tagged", tags=["paper", "lr:low"]))
    assert tagged.status_code == 201, tagged.text
    assert tagged.json()["tags"] == ["paper", "lr:low"]
    http.post("/v1/studies", json=tiny_spec(name="untagged"))
    assert names(http, tag="paper") == ["tagged"]
    assert names(http, tag="lr:low") == ["tagged"]
    assert names(http, tag="nothing") == []
    assert names(http) == ["tagged", "untagged"]
    bad = http.post("/v1/studies", json=tiny_spec(tags=["has space"]))
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"][:2] == ["tags", 0]


def test_sweep_over_seeds_names_and_tags_each_study(http: TestClient) -> None:
    body = {"name": "seeds", "template": template(), "over": {"seed": [0, 1, 2]},
            "tags": ["paper"]}
    created = http.post("/v1/sweeps", json=body)
    assert created.status_code == 201, created.text
    sweep = created.json()
    assert sweep["tag"] == "seeds"
    studies = sweep["studies"]
    assert [s["name"] for s in studies] == ["seeds-seed-0", "seeds-seed-1", "seeds-seed-2"]
    assert [s["spec"]["seed"] for s in studies] == [0, 1, 2]
    assert studies[1]["tags"] == ["paper", "seeds", "seed=1"]
    http.post("/v1/studies", json=tiny_spec(name="other"))
    assert names(http, tag="seeds") == ["seeds-seed-0", "seeds-seed-1", "seeds-seed-2"]
    assert names(http, tag="seed=2") == ["seeds-seed-2"]
    assert names(http, tag="paper", status="queued") == names(http, tag="seeds")


def npz(offset: float) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    np.savez(buffer, X=rng.normal(offset, 1.0, (30, 5, 1)).astype(np.float32),
             y=rng.normal(size=30).astype(np.float32))
    return buffer.getvalue()


def test_sweep_over_data_sets_and_seeds_through_the_client(
    client: Client, http: TestClient, tmp_path: Path
) -> None:
    ids = [client.upload_dataset(npz(i), filename=f"d{i}.npz").id for i in range(2)]
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(template(task={"dataset": ids[0]}, tags=["mine"])))
    sweep = client.sweep(path, name="per-data", over={"task.dataset": ids, "seed": [0, 1]})
    assert [s.name for s in sweep.studies] == [
        f"per-data-dataset-{d}-seed-{s}" for d in ids for s in (0, 1)]
    assert [s.task for s in sweep.studies] == [f"dataset-{d}" for d in ids for s in (0, 1)]
    assert sweep.studies[0].tags == ["mine", "per-data", f"dataset={ids[0]}", "seed=0"]
    assert [s.name for s in client.studies(tag=f"dataset={ids[1]}")] == [
        f"per-data-dataset-{ids[1]}-seed-0", f"per-data-dataset-{ids[1]}-seed-1"]
    # YAML text and a mapping are templates too.
    again = client.sweep(path.read_text(), name="text", over={"seed": [5]})
    assert again.studies[0].spec["seed"] == 5 and again.studies[0].tags[-1] == "seed=5"


def test_a_refused_study_refuses_the_whole_sweep(client: Client, http: TestClient) -> None:
    with pytest.raises(SpecError) as refused:
        client.sweep(template(), name="bad", over={"task.seq_len": [8, -3]})
    assert str(refused.value).startswith("studies.bad-seq_len--3.task.seq_len: ")
    assert refused.value.details[0][0][:2] == ("studies", "bad-seq_len--3")
    assert names(http) == []
    # A clash while creating them removes the ones already made.
    http.post("/v1/studies", json=tiny_spec(name="clash-seed-1"))
    with pytest.raises(ConflictError, match="clash-seed-1"):
        client.sweep(template(), name="clash", over={"seed": [0, 1, 2]})
    assert names(http) == ["clash-seed-1"]


@pytest.mark.parametrize(("body", "where", "text"), [
    ({"name": "x", "template": tiny_spec(name="named"), "over": {"seed": [0]}},
     ["template", "name"], "names its studies itself"),
    ({"name": "x", "template": template(), "over": {"seed": []}}, ["over", "seed"],
     "at least one value"),
    ({"name": "x", "template": template(), "over": {"seed; drop": [1]}}, ["over", "seed; drop"],
     "dotted field path"),
    ({"name": "x", "template": template(), "over": {"task.name.x": [1]}},
     ["over", "task.name.x"], "task.name is not a mapping"),
    ({"name": "x", "template": template(), "over": {"seed": list(range(11)),
                                                    "sampler.seed": list(range(10))}},
     ["over"], "110 studies; at most 100"),
    ({"name": "x", "template": template()}, ["over"], "Field required"),
    ({"name": "x y", "template": template(), "over": {"seed": [0]}}, ["name"], "pattern"),
    ({"name": "x", "template": "- a list", "over": {"seed": [0]}}, ["template"],
     "must be a mapping"),
])
def test_sweep_refusals_say_where_and_what(
    http: TestClient, body: dict[str, Any], where: list[str], text: str
) -> None:
    response = http.post("/v1/sweeps", json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["loc"] == where and text in problem["detail"]
    assert names(http) == []


def test_sweep_body_may_be_yaml_and_must_be_a_mapping(http: TestClient) -> None:
    body = yaml.safe_dump({"name": "y", "template": template(), "over": {"seed": [3]}})
    created = http.post("/v1/sweeps", content=body,
                        headers={"content-type": "application/yaml"})
    assert created.status_code == 201, created.text
    assert http.post("/v1/sweeps", content=b"[1, 2]").status_code == 400
    assert http.post("/v1/sweeps", content=b"a: [").status_code == 400


def test_sweep_within_the_key_quota_or_not_at_all(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'q.db'}", max_active_studies_per_key=3)
    with TestClient(create_app(settings)) as http:
        http.post("/v1/studies", json=tiny_spec(name="first"))
        response = http.post("/v1/sweeps", json={"name": "q", "template": template(),
                                                 "over": {"seed": [0, 1, 2]}})
        assert response.status_code == 429 and "makes 3 studies" in response.json()["detail"]
        assert names(http) == ["first"]


def test_values_that_read_alike_are_numbered() -> None:
    sweep = SweepSpec(name="n", template=template(),
                      over={"task.name": ["a b", "a_b"], "budget": [{"n_trials": 1}]})
    assert [name for name, _ in expand_sweep(sweep)] == ["n-name-0-budget-0",
                                                         "n-name-1-budget-0"]
