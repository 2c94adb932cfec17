"""The API keeps an idle connection open longer than clients keep reusing one, so a client
never sends a request on a connection the server is closing (uvicorn's own default, 5 s, is
httpx's too: under load, 'Server disconnected without sending a response')."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn

from service.api import create_app
from service.cli._serve import uvicorn_options
from service.config import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(settings: Settings) -> Iterator[int]:
    """``settings``' API served as ``rnntune serve`` configures uvicorn, on a free port."""
    port = free_port()
    options = {**uvicorn_options(settings.model_copy(update={"port": port})),
               "log_level": "warning"}
    server = uvicorn.Server(uvicorn.Config(create_app(settings), **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def ask_twice(port: int, idle_s: float) -> int:
    """Two requests on one connection, ``idle_s`` apart; the second's status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        first = conn.getresponse()
        first.read()
        assert first.status == 200 and first.getheader("connection") != "close"
        time.sleep(idle_s)
        conn.request("GET", "/healthz")
        second = conn.getresponse()
        second.read()
        return second.status
    finally:
        conn.close()


def test_a_connection_idle_past_the_clients_reuse_window_still_answers(
    sqlite_settings: Settings,
) -> None:
    assert sqlite_settings.keep_alive_s > 5
    with serving(sqlite_settings) as port:
        assert ask_twice(port, idle_s=6) == 200


def test_the_keep_alive_setting_reaches_uvicorn(sqlite_settings: Settings) -> None:
    with serving(sqlite_settings.model_copy(update={"keep_alive_s": 1})) as port, \
            pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        ask_twice(port, idle_s=2.5)  # the server closed the idle connection
