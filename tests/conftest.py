"""Shared fixtures: a fresh database per test (SQLite file, or a PostgreSQL database of its
own) with settings of short heartbeats. Helpers that build things are in ``factories``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.config import Settings
from service.store import StudyStore
from tests.factories import make_settings

POSTGRES_ADMIN_URL = os.environ.get(
    "RNNTUNE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# In CI PostgreSQL must be there: a missing server fails these tests instead of skipping them.
REQUIRE_POSTGRES = os.environ.get("RNNTUNE_REQUIRE_POSTGRES") == "1"


def _postgres_available() -> bool:
    import psycopg

    try:
        with psycopg.connect(POSTGRES_ADMIN_URL.replace("+psycopg", ""), connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database created for this test and dropped after it."""
    import psycopg

    if not _postgres_available():
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but not reachable at {POSTGRES_ADMIN_URL}")
        pytest.skip("PostgreSQL not reachable")
    name = f"rnntune_test_{uuid.uuid4().hex[:12]}"
    admin = POSTGRES_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return make_settings(f"sqlite:///{tmp_path / 'rnntune.db'}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The same test against each supported backend."""
    if request.param == "sqlite":
        return make_settings(f"sqlite:///{tmp_path / 'rnntune.db'}")
    return make_settings(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(any_settings: Settings) -> Iterator[StudyStore]:
    """An initialised store on each supported backend, closed after the test."""
    store = StudyStore(any_settings)
    store.initialize()
    yield store
    store.close()
