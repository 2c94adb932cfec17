"""Connections at scale: a worker process holds one PostgreSQL connection, and many workers
can share a few server connections through PgBouncer in transaction mode."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from bench._pgbouncer import PgBouncer, pgbouncer_binary
from service.store import StudyStore, count_trials
from service.worker import Supervisor
from tests.conftest import POSTGRES_ADMIN_URL
from tests.factories import create_study, make_settings, tiny_spec, wait_for

pytestmark = pytest.mark.postgres

WORKER_APP = "rnntune-test-worker"


def with_app(url: str, app: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}application_name={app}"


def server_connections(database: str, *, not_app: str | None = None,
                       app: str | None = None) -> int:
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
    params: list[str] = [database]
    if app is not None:
        query += " AND application_name = %s"
        params.append(app)
    if not_app is not None:
        query += " AND application_name <> %s"
        params.append(not_app)
    with psycopg.connect(POSTGRES_ADMIN_URL.replace("+psycopg", ""), autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def supervised() -> Iterator[list[Supervisor]]:
    """Supervisors a test starts, stopped after it whatever happens."""
    started: list[Supervisor] = []
    yield started
    for supervisor in started:
        supervisor.stop()


def test_an_idle_worker_process_holds_one_connection(
    postgres_url: str, supervised: list[Supervisor]
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    store = StudyStore(make_settings(postgres_url))
    store.initialize()
    store.close()
    supervisor = Supervisor(make_settings(with_app(postgres_url, WORKER_APP)), count=3,
                            name="one-connection")
    supervised.append(supervisor)
    supervisor.start()
    # From start-up on (Optuna's schema check, which opened a second connection for a
    # moment, reads on one), polling for work and sweeping every 5 s: one connection each.
    samples: list[int] = []

    def connected() -> bool:
        samples.append(server_connections(database, app=WORKER_APP))
        return samples[-1] >= 3

    wait_for(connected, timeout=240, what="three workers to connect")
    for _ in range(20):
        samples.append(server_connections(database, app=WORKER_APP))
        time.sleep(0.3)
    assert max(samples) == 3, samples


@pytest.mark.timeout(600)  # four processes import torch first: slow on a busy machine
@pytest.mark.skipif(pgbouncer_binary() is None, reason="pgbouncer is not installed")
def test_workers_share_two_server_connections_through_pgbouncer(
    postgres_url: str, supervised: list[Supervisor]
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    own_app = f"rnntune-test-{uuid.uuid4().hex[:6]}"
    store = StudyStore(make_settings(with_app(postgres_url, own_app)))
    store.initialize()
    with PgBouncer(POSTGRES_ADMIN_URL.replace("+psycopg", ""), pool_size=2) as pooler:
        settings = make_settings(pooler.url_for(postgres_url), db_transaction_pooler=True)
        supervisor = Supervisor(settings, count=4, name="pooled")
        supervised.append(supervisor)
        supervisor.start()
        wait_for(lambda: pooler.clients(database) >= 4, timeout=240,
                 what="four workers to connect to the pooler")
        record = create_study(store, tiny_spec(budget={"n_trials": 10, "max_epochs": 1}))
        peak = 0
        deadline = time.monotonic() + 180
        while store.get(record.id).status != "completed":
            assert time.monotonic() < deadline, "the study did not complete through the pooler"
            # Everything but this test's own store comes through the pooler's two.
            peak = max(peak, server_connections(database, not_app=own_app))
            time.sleep(0.2)
        time.sleep(1.0)  # a worker that over-claimed would start its trial now
        supervisor.stop()
        assert "ERROR" not in pooler.log()
    trials = store.trials(record)
    counts = count_trials(trials)
    assert counts.finished == counts.complete == 10 and len(trials) == 10
    assert sorted(t.number for t in trials) == list(range(10))
    assert counts.running == counts.waiting == 0
    assert store.get(record.id).in_flight == 0
    assert 1 <= peak <= 2, peak
    store.close()
