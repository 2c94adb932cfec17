"""Property-based fuzzing of our own OpenAPI schema: no 5xx, every response as documented.

Bounded (a fixed number of examples per operation) and derandomized (a fixed seed), so the run
is the same every time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from service.api import create_app
from service.store import StudyStore
from tests.factories import make_settings

# Schema-valid is not spec-valid (a task name must exist, low < high, ...), so the check that
# every schema-valid request is accepted does not apply; these do.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    directory: Path = tmp_path_factory.mktemp("fuzz")
    config = make_settings(f"sqlite:///{directory / 'fuzz.db'}", max_trials_per_study=50)
    store = StudyStore(config)
    store.initialize()  # the fuzzer's transport does not run the app's lifespan
    store.close()
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(config))


def test_api_conforms_to_its_schema(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def conforms(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        conforms()
