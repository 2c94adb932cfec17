"""The local worker pool's liveness, shared with API processes through a small file.

``rnntune serve`` with several API processes supervises the workers in its own process; each
API process answers ``/healthz`` from the file that process rewrites every second. A file that
stopped changing means nobody supervises the pool any more.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Protocol

__all__ = ["PoolLiveness", "PoolStatusFile"]

log = logging.getLogger(__name__)


class PoolLiveness(Protocol):
    """What ``/healthz`` reads of a worker pool (``Supervisor`` is one)."""

    def liveness(self) -> dict[str, int | bool]: ...


class PoolStatusFile:
    """Writes a pool's liveness to ``path`` every ``every_s`` (``start``), or reads it back."""

    def __init__(self, path: Path, *, every_s: float = 1.0, max_age_s: float = 10.0) -> None:
        self.path = path
        self.every_s = every_s
        self.max_age_s = max_age_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def liveness(self) -> dict[str, int | bool]:
        try:
            age = time.time() - self.path.stat().st_mtime
            status: dict[str, int | bool] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {"expected": 0, "alive": 0, "supervised": False}
        if age > self.max_age_s:
            status["supervised"] = False
        return status

    def write(self, pool: PoolLiveness) -> None:
        staging = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        staging.write_text(json.dumps(pool.liveness()))
        os.replace(staging, self.path)  # readers see the old file or the new one, never half

    def start(self, pool: PoolLiveness) -> None:
        self.write(pool)
        self._thread = threading.Thread(target=self._run, args=(pool,), daemon=True,
                                        name="rnntune-pool-status")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self, pool: PoolLiveness) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.write(pool)
            except OSError as error:
                log.warning("pool status not written to %s: %s", self.path, error)
