"""One writer at a time on a SQLite database, across the threads and processes of the service.

SQLite lets one writer in at a time, and a writer that finds the database taken sleeps in
SQLite's busy handler (1, 2, 5, ... up to 100 ms a try) while it may come free: under 50 API
clients a submit's p99 was 2.8 s. The service's writers queue here instead, and the next one
goes in as soon as the last one leaves: threads of one process on a lock, processes (several
API processes on one database file) on an advisory lock of a file beside the database.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

try:
    import fcntl
except ImportError:  # Windows: threads queue on the lock, processes in SQLite's handler
    fcntl = None  # type: ignore[assignment]

__all__ = ["SqliteWriteLock"]


class SqliteWriteLock:
    """Re-entrant within a thread; the file lock is held by the outermost holder."""

    def __init__(self, database: Path | None) -> None:
        self._threads = threading.RLock()
        self._depth = 0
        self._path = (None if database is None or fcntl is None
                      else database.with_name(database.name + ".writer"))
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._threads.acquire()
        self._depth += 1
        if self._depth == 1 and self._path is not None:
            try:
                if self._fd is None:
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except OSError:  # a read-only folder: SQLite's own handler still serialises
                self._path = None
                self._close()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
