"""Lanes: how many of the API's frequent requests run their blocking work at once.

A sync route runs on Starlette's thread pool, up to 40 threads. The frequent requests (the
study view, trial pages, the study list; submits and cancels) are CPU work in one interpreter
and, on SQLite, writes behind one lock: beyond a couple at once, extra threads only take the
GIL from each other (every thread switch costs, and the interpreter hands the GIL round in
5 ms slices, so a 3 ms request waits out other threads' slices). A lane is a FIFO
``CapacityLimiter``: requests past its width wait on the event loop in arrival order, and the
ones running share the interpreter with few others. On SQLite reads and writes share one lane
two wide: its writes take turns on the database lock anyway, and with a lane each the writes
queued behind the reads' share of the interpreter (under 50 clients, the writes' p99 about
halved; docs/benchmarks.md, "API under concurrent load"); two wide, so a write waiting for a
worker's hold on the database leaves room for a read. Elsewhere reads and writes have a lane
each, so a write waiting on the database's round trips does not hold up reads. The rare
heavy requests (importance, reports, predictions, uploads) keep the thread pool: in a lane,
one of them would hold up every request behind it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

from service.config import Settings

__all__ = ["Lanes", "run_in_lane"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


class Lanes:
    """The read lane and the write lane of one API process: one lane under both names when
    ``shared`` (its width) is not 0."""

    def __init__(self, *, reads: int, writes: int, shared: int = 0) -> None:
        if shared:
            self.reads = self.writes = CapacityLimiter(shared)
        else:
            self.reads = CapacityLimiter(reads)
            self.writes = CapacityLimiter(writes)

    @classmethod
    def for_settings(cls, settings: Settings) -> Lanes:
        return cls(reads=settings.api_read_lane, writes=settings.write_lane_width,
                   shared=settings.shared_lane_width)


async def run_in_lane(lane: CapacityLimiter, func: Callable[_P, _T], *args: _P.args,
                      **kwargs: _P.kwargs) -> _T:
    """Run ``func`` on a worker thread once ``lane`` has room; waiters go in arrival order."""
    return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs),
                                          limiter=lane)
