"""CPU time read from ``/proc`` (Linux): the whole machine's, a process tree's, and what
other jobs used during a run."""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from bench._machine import cores


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores so far, from ``/proc/stat``; (0, 0) elsewhere."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    except (OSError, ValueError, IndexError):
        return 0, 0
    return sum(fields) - idle, sum(fields)


def machine_busy(window_s: float = 3.0) -> float:
    """The share of all cores that was busy over ``window_s`` (from ``/proc/stat``); 0
    where it cannot be read."""
    busy0, total0 = cpu_ticks()
    if total0 == 0:
        return 0.0
    time.sleep(window_s)
    busy1, total1 = cpu_ticks()
    if total1 == 0:
        return 0.0
    return (busy1 - busy0) / max(1, total1 - total0)


class ForeignCpu:
    """CPU time used during a run by processes other than this one and its children.

    Linux only (reads ``/proc``); NaN elsewhere. ``share`` is that time as a fraction of all
    the machine's cores over the run: a disturbed run can be recognised by it. Processes whose
    name starts with one of ``exclude`` (say, the database server a benchmark drives) are not
    counted as foreign.
    """

    def __init__(self, every_s: float = 0.5, *, exclude: Sequence[str] = ()) -> None:
        self._me = os.getpid()
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._every = every_s
        self._exclude = tuple(exclude)
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._comm: dict[int, str] = {}
        self._began = 0.0
        self._ended = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def __enter__(self) -> ForeignCpu:
        self._began = time.monotonic()
        self._scan(initial=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._scan(initial=False)
        self._ended = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self._scan(initial=False)

    def _scan(self, *, initial: bool) -> None:
        stats: dict[int, tuple[str, int, float]] = {}
        with contextlib.suppress(OSError):
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                with contextlib.suppress(OSError, ValueError, IndexError):
                    raw = Path(entry.path, "stat").read_text()
                    comm = raw[raw.index("(") + 1:raw.rindex(")")]
                    fields = raw[raw.rindex(")") + 2:].split()
                    cpu = (int(fields[11]) + int(fields[12])) / self._tick
                    stats[int(entry.name)] = (comm, int(fields[1]), cpu)
        ours = {self._me}
        grew = True
        while grew:  # our process tree: workers, servers and anything they start
            before = len(ours)
            ours.update(pid for pid, (_, ppid, _) in stats.items() if ppid in ours)
            grew = len(ours) > before
        for pid, (comm, _, cpu) in stats.items():
            if pid in ours or comm.startswith(self._exclude):
                continue
            # A process born during the run counts from zero.
            self._first.setdefault(pid, cpu if initial else 0.0)
            self._last[pid] = cpu
            self._comm[pid] = comm

    @property
    def core_seconds(self) -> float:
        """CPU seconds the other processes used while this sampler ran."""
        if not self._last:
            return math.nan
        return sum(self._last[pid] - self._first.get(pid, 0.0) for pid in self._last)

    @property
    def share(self) -> float:
        """That CPU time as a fraction of all the machine's cores over the run."""
        span = self._ended - self._began
        return self.core_seconds / (span * cores()) if span > 0 else math.nan

    def top(self, n: int = 3) -> list[tuple[str, float]]:
        """The ``n`` process names that used the most CPU seconds."""
        by_name: dict[str, float] = defaultdict(float)
        for pid, cpu in self._last.items():
            by_name[self._comm[pid]] += cpu - self._first.get(pid, 0.0)
        ranked = sorted(by_name.items(), key=lambda item: -item[1])[:n]
        return [(name, seconds) for name, seconds in ranked if seconds > 0]



def descendants(pid: int) -> list[int]:
    """The process ids under ``pid`` (Linux; empty elsewhere)."""
    parents: dict[int, int] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    raw = Path(entry.path, "stat").read_text()
                    parents[int(entry.name)] = int(raw[raw.rindex(")") + 2:].split()[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total
