"""The supervisor survives a worker it cannot restart (no file descriptor left for the new
process's pipe: EMFILE), reports it in /healthz, and restarts the worker once it can."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from service.config import Settings
from tests.factories import wait_for
from tests.worker.test_faults import free_port, serve, wait_healthy


def worker_children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            for child in f.read().split():
                with open(f"/proc/{child}/cmdline", "rb") as cmd:
                    if b"service.worker" in cmd.read():
                        found.append(int(child))
    return found


def health(url: str) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{url}/healthz", timeout=10)
    return response.status_code, response.json()


def set_soft_nofile(pid: int, value: str) -> None:
    subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={value}:"], check=True)


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_open_files(pid: int, timeout: float = 15.0) -> int:
    """The process's open descriptors once the count holds for a second: a connection the
    server closes late would otherwise leave a second spare descriptor under the limit."""
    deadline = time.monotonic() + timeout
    count = open_files(pid)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = open_files(pid)
        if now == count:
            return count
        count = now
    return count


def test_a_worker_that_cannot_be_restarted_is_reported_and_restarted_later(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api = serve(sqlite_settings, port, 1, tmp_path)
    soft = subprocess.run(["prlimit", f"--pid={api.pid}", "--nofile", "--output=SOFT",
                           "--noheadings"], capture_output=True, text=True,
                          check=True).stdout.strip()
    try:
        wait_healthy(url)
        wait_for(lambda: len(worker_children(api.pid)) == 1, timeout=60, what="the worker")
        assert health(url)[1]["workers"] == {"expected": 1, "alive": 1, "supervised": True}
        for _ in range(4):
            health(url)  # the server's request threads and connections exist before the limit
        [worker] = worker_children(api.pid)
        # One descriptor to spare: enough to accept a request, too few for a pipe (two).
        set_soft_nofile(api.pid, str(settled_open_files(api.pid) + 1))
        os.kill(worker, signal.SIGKILL)
        wait_for(lambda: health(url)[0] == 503, timeout=30, what="/healthz to report it")
        time.sleep(3)  # several restart attempts, each refused by the limit
        status, body = health(url)
        assert status == 503 and body["status"] == "degraded"
        assert body["workers"] == {"expected": 1, "alive": 0, "supervised": True}
        set_soft_nofile(api.pid, soft)
        wait_for(lambda: health(url)[0] == 200, timeout=60, what="the worker to be restarted")
        assert health(url)[1]["workers"]["alive"] == 1
        assert len(worker_children(api.pid)) == 1
    finally:
        api.send_signal(signal.SIGTERM)
        api.wait(timeout=60)
