"""Background sweep in the API server: reap stale trials and close finished studies."""

from __future__ import annotations

import logging
import os
import threading

from service.store import StudyStore

__all__ = ["Sweeper"]

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, store: StudyStore, *, interval_s: float) -> None:
        self._store = store
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rnntune-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._store.sweep()
                log.debug("sweep done in process %d", os.getpid())
            except Exception:  # a failed sweep must never take the API down
                log.exception("sweep failed; trying again in %.0fs", self._interval_s)
