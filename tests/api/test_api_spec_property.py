"""Property: no study spec, however hostile, gets a 5xx. Valid specs are mutated at any field
(and at new ones) with non-finite and huge numbers, integers of thousands of digits, deep
nesting and huge strings, then sent as YAML text."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.api import create_app
from service.config import Settings
from tests.factories import make_settings, tiny_spec


class Raw(str):
    """A token written into the YAML text as it is (a number no float can hold, say)."""


def render(value: Any) -> str:
    """YAML flow style that can also spell what JSON cannot: .inf, .nan, 1e999, deep [[[."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)


hostile = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 1e12, 1e308, -1e308, 5e-324]),
    st.sampled_from([Raw("1e999"), Raw("-1e999"), Raw("9" * 5000), Raw("0x" + "f" * 400)]),
    st.integers(min_value=30, max_value=3000).map(lambda n: Raw("[" * n + "]" * n)),
    st.integers(min_value=30, max_value=3000).map(lambda n: Raw("{a: " * n + "1" + "}" * n)),
    st.text(max_size=40),
    st.integers(min_value=1, max_value=400_000).map(lambda n: "x" * n),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=5),
    st.just({}), st.just([]), st.none(), st.booleans(),
)

BASES = [
    tiny_spec(),
    tiny_spec(budget={"n_trials": 2, "max_epochs": 2, "timeout_s": 60},
              constraints={"max_params": 1000, "max_latency_ms": 5.0},
              pruner={"name": "median", "n_warmup_steps": 1},
              sampler={"name": "tpe", "seed": 1, "n_startup_trials": 2}),
    tiny_spec(task={"name": "sunspots"}, search_space="lstm"),
]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def replaced(document: Any, path: tuple[Any, ...], new: Any, add: str | None) -> Any:
    if not path:
        return {**document, add: new} if add and isinstance(document, dict) else new
    head, *rest = path
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[head] = replaced(document[head], tuple(rest), new, add)
    return copy


@st.composite
def hostile_specs(draw: st.DrawFn) -> Any:
    document: Any = draw(st.sampled_from(BASES))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(list(paths(document))))
        add = draw(st.one_of(st.none(), st.sampled_from(["extra", "timeout_s", "seq_len"])))
        document = replaced(document, path, draw(hostile), add)
    return document


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    directory = tmp_path_factory.mktemp("property")
    config: Settings = make_settings(f"sqlite:///{directory / 'p.db'}")
    with TestClient(create_app(config), raise_server_exceptions=False) as client:
        yield client


def test_no_spec_gets_a_server_error(http: TestClient) -> None:
    @given(document=hostile_specs())
    @settings(max_examples=250, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def never_5xx(document: Any) -> None:
        response = http.post("/v1/studies", content=render(document),
                             headers={"content-type": "application/yaml"})
        assert response.status_code < 500, (render(document)[:300], response.text)
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["detail"]

    never_5xx()


@pytest.mark.parametrize("text", [
    "budget: {timeout_s: 1e12}", "budget: {timeout_s: 1e999}", "budget: {timeout_s: .nan}",
    "a: " + "[" * 5000 + "]" * 5000, "[" * 100_000 + "]" * 100_000,
    "budget: {n_trials: 1" + "0" * 5000 + "}",
    "budget: {n_trials: 0x" + "f" * 400 + "}",  # past any float, short of the digit limit
])
def test_the_reported_500s_are_4xx(http: TestClient, text: str) -> None:
    body = "task: {name: adding}\nsearch_space: lstm\n" + text if text[0] != "[" else text
    response = http.post("/v1/studies", content=body,
                         headers={"content-type": "application/yaml"})
    assert 400 <= response.status_code < 500, response.text
