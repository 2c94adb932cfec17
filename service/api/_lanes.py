"""Lanes: how many of the API's frequent requests run their blocking work at once.

A sync route runs on Starlette's thread pool, up to 40 threads. The frequent requests (the
study view, trial pages, the study list; submits and cancels) are CPU work in one interpreter
and, on SQLite, writes behind one lock: beyond a couple at once, extra threads only take the
GIL from each other (every thread switch costs, and the interpreter hands the GIL round in
5 ms slices, so a 3 ms request waits out other threads' slices). A lane is a FIFO
``CapacityLimiter``: requests past its width wait on the event loop in arrival order, and the
ones running share the interpreter with few others. Reads and writes have a lane each, so a
write waiting for the database lock does not hold up reads. The rare heavy requests
(importance, reports, predictions, uploads) keep the thread pool: in a lane, one of them
would hold up every request behind it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

__all__ = ["Lanes", "run_in_lane"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


class Lanes:
    """The read lane and the write lane of one API process."""

    def __init__(self, *, reads: int, writes: int) -> None:
        self.reads = CapacityLimiter(reads)
        self.writes = CapacityLimiter(writes)


async def run_in_lane(lane: CapacityLimiter, func: Callable[_P, _T], *args: _P.args,
                      **kwargs: _P.kwargs) -> _T:
    """Run ``func`` on a worker thread once ``lane`` has room; waiters go in arrival order."""
    return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs),
                                          limiter=lane)
