"""``rnntune serve`` with several API processes: how many it picks, one sweep for all of them,
the local pool's liveness seen by every process's /healthz, and clients' connections spread
over the processes."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.cli._api_processes import (
    STARTUP_FAILURE,
    balanced_sockets_supported,
    serve_processes,
)
from service.cli._serve import choose_api_processes
from service.config import Settings
from service.worker import PoolStatusFile, Supervisor


def settings(url: str = "postgresql+psycopg://u@h/db", **values: object) -> Settings:
    return Settings(database_url=url, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("cores", "workers", "expected"), [
    (2, 2, 1),  # the default on a 2-core machine: workers take both cores
    (2, 0, 2),  # measured: two processes served about twice the requests of one
    (8, 2, 4),
    (16, 0, 4),  # never more than four
    (8, 8, 1),
    (4, 6, 1),  # at least one
])
@pytest.mark.parametrize("url", ["postgresql+psycopg://u@h/db", "sqlite:///x.db"])
def test_serve_gives_the_api_the_cores_the_workers_leave(
    cores: int, workers: int, expected: int, url: str
) -> None:
    assert choose_api_processes(settings(url, workers=workers), cores=cores) == expected


def test_an_explicit_number_of_api_processes_wins() -> None:
    assert choose_api_processes(settings("sqlite:///x.db", workers=8, api_processes=3),
                                cores=2) == 3


def test_the_pool_status_file_carries_the_liveness_and_goes_stale(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    pool = Supervisor(sqlite_settings, count=0, name="status")
    pool.start()
    status = PoolStatusFile(tmp_path / "pool.json", every_s=0.1, max_age_s=1.0)
    status.start(pool)
    try:
        reader = PoolStatusFile(tmp_path / "pool.json")
        assert reader.liveness() == {"expected": 0, "alive": 0, "supervised": True}
    finally:
        status.stop()
        pool.stop()
    # The writer is gone: after the maximum age nobody vouches for the pool any more.
    old = time.time() - 5
    os.utime(tmp_path / "pool.json", (old, old))
    assert PoolStatusFile(tmp_path / "pool.json", max_age_s=1.0).liveness()["supervised"] is False
    assert PoolStatusFile(tmp_path / "missing.json").liveness()["supervised"] is False


def _connections_spread(port: int, *, count: int) -> Counter[int]:
    """Open ``count`` kept connections at once and say how many each server process holds
    (read from /proc: the processes' socket descriptors and the kernel's TCP table)."""
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    try:
        for client in clients:  # an answer on each: every connection was accepted
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for client in clients:
            assert client.recv(65536).startswith(b"HTTP/1.1 200")
        established: set[str] = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    established.add(f"socket:[{fields[9]}]")
        spread: Counter[int] = Counter()
        for descriptors in Path("/proc").glob("[0-9]*/fd"):
            try:
                held = sum(os.readlink(fd) in established for fd in descriptors.iterdir())
            except OSError:  # a process that ended, or one not ours to read
                continue
            if held:
                spread[int(descriptors.parent.name)] = held
        assert sum(spread.values()) == count, spread
        return spread
    finally:
        for client in clients:
            client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_api_processes_share_one_port_and_one_sweep(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RNNTUNE_SWEEP_INTERVAL_S": "0.3", "RNNTUNE_LOG_LEVEL": "debug"}
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(port),
             "--workers", "0", "--api-processes", "2"],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 300  # two interpreters import torch: slow when busy
        health = None
        while health is None or health.status_code != 200:
            assert server.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "rnntune serve did not come up"
            time.sleep(0.3)
            try:
                health = httpx.get(f"{url}/healthz")
            except httpx.TransportError:
                health = None
        # Every API process answers from the pool's status file, written by the parent.
        assert health.json()["workers"] == {"expected": 0, "alive": 0, "supervised": True}
        assert httpx.get(f"{url}/v1/studies").status_code == 200
        if balanced_sockets_supported():
            spread = _connections_spread(port, count=40)
            # Binomial(40, 1/2) below 6 for one of two processes: about 1 in 10 million.
            assert len(spread) == 2 and min(spread.values()) >= 6, spread
        time.sleep(3.0)  # about ten sweep intervals
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=240)
    text = log_path.read_text()
    api_processes = set(re.findall(r"Started server process \[(\d+)\]", text))
    sweepers = re.findall(r"sweep done in process (\d+)", text)
    # Two at least (uvicorn replaces one that stops answering its ping).
    assert len(api_processes) >= 2, text[-3000:]
    assert len(sweepers) >= 3, text[-3000:]
    assert set(sweepers) == {str(server.pid)}, "only the supervising process sweeps"


def _children(pid: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.add(int(stat.parent.name))
    return children


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(not balanced_sockets_supported(), reason="Linux's own API processes")
def test_api_processes_end_with_a_killed_serve(tmp_path: Path) -> None:
    """A ``serve`` killed outright takes its API processes with it: left behind, they would
    go on accepting on the port beside a restarted ``serve``'s."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "0",
         "--api-processes", "2"],
        cwd=tmp_path, env={**os.environ, "RNNTUNE_LOG_LEVEL": "warning"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while len(_children(server.pid)) < 2 or not _answers(port):
            assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.3)
        api_processes = _children(server.pid)
    finally:
        server.kill()
        server.wait(60)
    deadline = time.monotonic() + 60
    while any(Path(f"/proc/{pid}").exists() for pid in api_processes):
        assert time.monotonic() < deadline, f"API processes {api_processes} outlived serve"
        time.sleep(0.2)
    assert not _answers(port)


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def broken_app() -> Any:
    raise RuntimeError("this app cannot be built")


@pytest.mark.timeout(300)
@pytest.mark.skipif(not balanced_sockets_supported(), reason="Linux's own API processes")
def test_an_app_that_cannot_start_stops_serve_rather_than_restarting_forever() -> None:
    options = {"host": "127.0.0.1", "port": free_port(), "log_level": "critical"}
    with pytest.raises(SystemExit) as ended:
        serve_processes(2, options, app="tests.test_serve_processes:broken_app")
    assert ended.value.code == STARTUP_FAILURE


@pytest.mark.skipif(not balanced_sockets_supported(), reason="Linux's own API processes")
def test_a_port_taken_by_another_program_ends_serve_at_once() -> None:
    with socket.socket() as taken:  # listening without SO_REUSEPORT, as most programs do
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        options = {"host": "127.0.0.1", "port": taken.getsockname()[1]}
        with pytest.raises(SystemExit) as ended:
            serve_processes(2, options)
    assert ended.value.code == STARTUP_FAILURE
