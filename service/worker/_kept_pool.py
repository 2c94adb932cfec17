"""A worker's pool of one kept connection, on which a thread waits for the other thread's
statement instead of opening a connection of its own.

A worker runs its trial loop and Optuna's heartbeat thread on one pooled PostgreSQL
connection. SQLAlchemy's pool opens an extra connection (a new server process) the moment one
thread asks while the other holds the kept one. With 64 workers on 2 cores a statement waits
long for the CPU, so the two threads met often: 90-99 of the server's 100 connections were in
use at peak, with up to 27 "too many clients" refusals in a run. Here a thread whose
connection is held by the other thread first waits up to ``wait_s`` for it. A thread that
already holds a connection and asks for another (a statement nested in its own transaction)
gets one at once: waiting for itself would only time out.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from sqlalchemy.pool import ConnectionPoolEntry, QueuePool
from sqlalchemy.util import queue as sqla_queue

__all__ = ["KeptConnectionPool"]


class KeptConnectionPool(QueuePool):
    # A heartbeat late by a second is harmless (the grace period is at least two beats), and
    # a trial's statement waits for one beat at most.
    wait_s = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._holders: dict[int, int] = {}  # id of a checked-out entry -> its thread
        self._holders_lock = threading.Lock()

    def _do_get(self) -> ConnectionPoolEntry:
        thread = threading.get_ident()
        with self._holders_lock:
            nested = thread in self._holders.values()
        entry: ConnectionPoolEntry | None = None
        if not nested and self.checkedout() >= self.size():
            # Another thread holds the kept connection: wait for it to come back.
            with contextlib.suppress(sqla_queue.Empty):
                entry = self._pool.get(True, self.wait_s)
        if entry is None:
            entry = super()._do_get()
        with self._holders_lock:
            self._holders[id(entry)] = thread
        return entry

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        with self._holders_lock:
            self._holders.pop(id(record), None)
        super()._do_return_conn(record)
