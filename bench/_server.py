"""``rnntune serve`` in a subprocess: a free port, starting it, stopping it, and the clock
its trials are stamped with."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(database_url: str, port: int, cwd: Path, *, workers: int = 0,
                 env: dict[str, str] | None = None, log_path: Path | None = None,
                 timeout_s: float = 90.0) -> subprocess.Popen[bytes]:
    """``rnntune serve --workers N`` on ``database_url``; returns once /healthz answers."""
    import httpx

    full_env = {**os.environ, "RNNTUNE_DATABASE_URL": database_url,
                "RNNTUNE_LOG_LEVEL": "warning", **(env or {})}
    sink = log_path.open("ab") if log_path is not None else subprocess.DEVNULL
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port),
         "--workers", str(workers)],
        cwd=cwd, env=full_env, stdout=sink, stderr=sink,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError("the server did not start")


def stop_server(server: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """Ctrl-C, as a user stops ``rnntune serve`` (its workers hand their trials back)."""
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()



def utcnow_naive() -> dt.datetime:
    """Naive UTC, as Optuna 5 stores trial timestamps."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
