"""Retry database calls through transient faults (server restart, dropped connection,
SQLite's "database is locked") with exponential backoff; a fault that outlasts the retries
leaves the store as ``TransientError``, so callers see the domain error, not SQLAlchemy's."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import optuna
from sqlalchemy.exc import DBAPIError, OperationalError

from service.errors import TransientError

__all__ = ["STORAGE_FAULTS", "is_disk_full", "is_transient", "retry_transient"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

_DELAYS_S = (0.1, 0.3, 1.0, 2.0)

# What a database that is down or full raises: ours after retries, or Optuna's and
# SQLAlchemy's from calls the store does not wrap (a trial's own reports and tell).
STORAGE_FAULTS = (TransientError, OperationalError, optuna.exceptions.StorageInternalError)


# SQLite's SQLITE_FULL, the OS's ENOSPC, PostgreSQL's disk_full (SQLSTATE 53100).
_DISK_FULL = ("database or disk is full", "no space left on device", "could not extend file",
              "53100")


def is_disk_full(error: BaseException) -> bool:
    """The database's disk is full: no retry will help until someone frees space."""
    seen: BaseException | None = error
    while seen is not None:  # Optuna wraps SQLAlchemy's error, which wraps the driver's
        text = f"{seen} {getattr(seen, 'sqlstate', '')}".lower()
        if any(marker in text for marker in _DISK_FULL):
            return True
        seen = seen.__cause__ or getattr(seen, "orig", None)
    return False


def is_transient(error: BaseException) -> bool:
    """Operational errors (lost connection, lock timeout) may pass; integrity errors and a
    full disk do not."""
    if is_disk_full(error):
        return False
    if isinstance(error, (TransientError, optuna.exceptions.StorageInternalError)):
        return True
    if isinstance(error, OperationalError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def retry_transient(func: Callable[P, R]) -> Callable[P, R]:
    """Call ``func``; on a transient database error wait and call again, a few times.

    Only for calls that are safe to repeat: reads, and writes that either happen whole or
    not at all (one statement per transaction).
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for delay in _DELAYS_S:
            try:
                return func(*args, **kwargs)
            except Exception as error:
                if not is_transient(error):
                    raise
                log.warning("%s: transient database error, retrying in %.1fs: %s",
                            func.__qualname__, delay, error)
                time.sleep(delay)
        try:
            return func(*args, **kwargs)
        except Exception as error:
            if not is_transient(error) or isinstance(error, TransientError):
                raise
            raise TransientError("the database is busy or unavailable; retry shortly") \
                from error

    return wrapper
