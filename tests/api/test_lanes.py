"""Lanes: the frequent requests run at most a lane's width at once, waiters go in arrival
order, and a write waiting in its lane does not hold up reads."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.api._lanes import Lanes, run_in_lane
from service.config import Settings
from tests.factories import make_settings, tiny_spec


def test_a_lane_runs_at_most_its_width_at_once_in_arrival_order() -> None:
    lane = anyio.CapacityLimiter(2)
    running: list[int] = []
    started: list[int] = []
    most = 0
    guard = threading.Lock()

    def work(n: int) -> int:
        nonlocal most
        with guard:
            running.append(n)
            started.append(n)
            most = max(most, len(running))
        time.sleep(0.12)
        with guard:
            running.remove(n)
        return n * 10

    async def main() -> list[int]:
        results: list[int] = []

        async def one(n: int) -> None:
            results.append(await run_in_lane(lane, work, n))

        async with anyio.create_task_group() as tasks:
            for n in range(8):
                tasks.start_soon(one, n)
                await anyio.sleep(0.04)  # arrive in order, far enough apart to start so
        return results

    results = anyio.run(main)
    assert sorted(results) == [n * 10 for n in range(8)]
    assert most == 2
    assert started == list(range(8)), "waiters start in the order they arrived"


def test_sqlite_shares_one_lane_two_wide_and_elsewhere_reads_and_writes_have_their_own(
    sqlite_settings: Settings,
) -> None:
    app = create_app(sqlite_settings)
    lanes: Lanes = app.app.api.state.lanes  # type: ignore[attr-defined]
    assert lanes.reads is lanes.writes and lanes.reads.total_tokens == 2
    postgres = Lanes.for_settings(make_settings("postgresql+psycopg://localhost/none"))
    assert postgres.reads is not postgres.writes
    assert (postgres.reads.total_tokens, postgres.writes.total_tokens) == (2, 4)
    wider = Lanes.for_settings(sqlite_settings.model_copy(update={"api_shared_lane": 3}))
    assert wider.reads is wider.writes and wider.reads.total_tokens == 3


def test_a_read_or_write_lane_set_on_sqlite_splits_the_lanes_as_asked(
    sqlite_settings: Settings,
) -> None:
    for asked in ({"api_write_lane": 3}, {"api_read_lane": 5}):
        lanes = Lanes.for_settings(sqlite_settings.model_copy(update=asked))
        assert lanes.reads is not lanes.writes
        assert (lanes.reads.total_tokens, lanes.writes.total_tokens) == (
            asked.get("api_read_lane", 2), asked.get("api_write_lane", 1))
    both = Lanes.for_settings(sqlite_settings.model_copy(
        update={"api_write_lane": 3, "api_shared_lane": 4}))
    assert both.reads is both.writes and both.reads.total_tokens == 4  # the shared one wins


def test_without_a_shared_lane_the_write_lane_is_one_wide_on_sqlite_and_wider_elsewhere(
    sqlite_settings: Settings,
) -> None:
    split = sqlite_settings.model_copy(update={"api_shared_lane": 0})
    assert split.write_lane_width == 1
    postgres = make_settings("postgresql+psycopg://localhost/none")
    assert postgres.write_lane_width == 4
    assert split.model_copy(update={"api_write_lane": 3}).write_lane_width == 3
    app = create_app(split.model_copy(update={"api_read_lane": 5}))
    lanes: Lanes = app.app.api.state.lanes  # type: ignore[attr-defined]
    assert (lanes.reads.total_tokens, lanes.writes.total_tokens) == (5, 1)


@contextmanager
def lane_held(http: TestClient, lane: anyio.CapacityLimiter, width: int,
              request: Callable[[], httpx.Response]) -> Iterator[list[int]]:
    """Hold all ``width`` places of ``lane``, send ``request`` from another thread and wait
    until it queues there; on leaving, free the lane and wait for its answer (its status in
    the list yielded)."""
    holders = [object() for _ in range(width)]
    for holder in holders:
        http.portal.call(lane.acquire_on_behalf_of, holder)  # type: ignore[union-attr]
    answers: list[int] = []
    sender = threading.Thread(target=lambda: answers.append(request().status_code))
    sender.start()
    try:
        deadline = time.monotonic() + 10
        while lane.statistics().tasks_waiting < 1:
            assert time.monotonic() < deadline, "the request never queued in the lane"
            time.sleep(0.01)
        yield answers
    finally:
        for holder in holders:
            http.portal.call(lane.release_on_behalf_of, holder)  # type: ignore[union-attr]
        sender.join(timeout=30)


def test_a_write_waiting_in_its_lane_does_not_hold_up_reads(sqlite_settings: Settings) -> None:
    split = sqlite_settings.model_copy(update={"api_shared_lane": 0})
    with TestClient(create_app(split)) as http:
        created = http.post("/v1/studies", json=tiny_spec())
        assert created.status_code == 201, created.text
        study_id = created.json()["id"]
        lanes: Lanes = http.app.app.api.state.lanes  # type: ignore[attr-defined]
        cancel = functools.partial(http.post, f"/v1/studies/{study_id}/cancel")
        with lane_held(http, lanes.writes, 1, cancel) as answers:
            for _ in range(3):  # reads answer while the write waits
                read = http.get(f"/v1/studies/{study_id}")
                assert read.status_code == 200 and read.json()["status"] != "cancelled"
                assert http.get(f"/v1/studies/{study_id}/trials").status_code == 200
            assert answers == [], "the cancel ran although its lane was full"
        assert answers == [200]
        assert http.get(f"/v1/studies/{study_id}").json()["status"] == "cancelled"


@pytest.mark.parametrize("width", [1, 2])
def test_reads_wait_for_room_in_the_read_lane(sqlite_settings: Settings, width: int) -> None:
    settings = sqlite_settings.model_copy(update={"api_read_lane": width, "api_shared_lane": 0})
    with TestClient(create_app(settings)) as http:
        study_id = http.post("/v1/studies", json=tiny_spec()).json()["id"]
        lanes: Lanes = http.app.app.api.state.lanes  # type: ignore[attr-defined]
        read = functools.partial(http.get, f"/v1/studies/{study_id}")
        with lane_held(http, lanes.reads, width, read) as answers:
            time.sleep(0.1)
            assert answers == [], "the read ran although its lane was full"
        assert answers == [200]


def test_in_the_shared_lane_reads_and_writes_take_turns_in_arrival_order(
    sqlite_settings: Settings,
) -> None:
    one_wide = sqlite_settings.model_copy(update={"api_shared_lane": 1})  # one at a time
    with TestClient(create_app(one_wide)) as http:
        study_id = http.post("/v1/studies", json=tiny_spec()).json()["id"]
        lanes: Lanes = http.app.app.api.state.lanes  # type: ignore[attr-defined]
        assert lanes.reads is lanes.writes
        order: list[str] = []
        cancel = functools.partial(http.post, f"/v1/studies/{study_id}/cancel")

        def read_after_the_cancel() -> None:
            deadline = time.monotonic() + 10
            while lanes.reads.statistics().tasks_waiting < 1 and time.monotonic() < deadline:
                time.sleep(0.01)  # the cancel queues first
            response = http.get(f"/v1/studies/{study_id}")
            order.append(response.json()["status"])

        reader = threading.Thread(target=read_after_the_cancel)
        reader.start()
        with lane_held(http, lanes.writes, 1, cancel) as answers:
            deadline = time.monotonic() + 10
            while lanes.reads.statistics().tasks_waiting < 2:
                assert time.monotonic() < deadline, "the read never queued behind the cancel"
                time.sleep(0.01)
            assert answers == [] and order == [], "a request ran while the lane was held"
        reader.join(timeout=30)
        assert answers == [200]
        assert order == ["cancelled"], "the read, queued after the cancel, ran after it"
