"""On PostgreSQL a process's pool keeps the connections its busiest moments use: requests
that overlap reuse them instead of each opening (and closing) a server process."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, text

from service.store._engine import make_engine
from tests.factories import make_settings


@pytest.mark.postgres
def test_four_uses_at_once_reuse_the_pools_connections_round_after_round(
    postgres_url: str,
) -> None:
    settings = make_settings(postgres_url)  # the pool's sizes as a user gets them
    engine = make_engine(settings)
    opened: list[int] = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def use() -> None:
        try:
            with engine.connect() as conn:
                barrier.wait(timeout=30)  # all four hold a connection at the same time
                conn.execute(text("SELECT 1"))
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    try:
        for _ in range(10):
            threads = [threading.Thread(target=use) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        assert errors == []
        assert len(opened) == 4, f"{len(opened)} connections opened for 4 at a time"
    finally:
        engine.dispose()


def test_the_pools_bound_is_six_connections() -> None:
    settings = make_settings("postgresql+psycopg://localhost/none")
    assert settings.db_pool_size + settings.db_max_overflow == 6
