from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.client import Client
from service.config import Settings


@pytest.fixture
def http(sqlite_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_settings)) as client:
        yield client


@pytest.fixture
def client(http: TestClient) -> Client:
    return Client(str(http.base_url), http=http)
