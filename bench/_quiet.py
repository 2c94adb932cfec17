"""Waiting for a quiet machine before timing, and for started processes to settle."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from bench._cpu_use import cpu_seconds, descendants


def load1() -> float:
    return os.getloadavg()[0]


def _say(message: str) -> None:
    print(message, flush=True)


def wait_for_quiet(limit: float, timeout_s: float, *, measure: Callable[[], float] = load1,
                   what: str = "load", pause_s: float = 30.0,
                   say: Callable[[str], None] = _say) -> float:
    """Wait until ``measure()`` (by default the 1-minute load average) is at most ``limit``
    (or ``timeout_s`` passed), checking again every ``pause_s``; return the reading seen
    last. Other jobs on a small machine spoil timings. ``what`` names the reading in the
    message ``say`` is given while waiting."""
    deadline = time.monotonic() + timeout_s
    reading = measure()
    while reading > limit and time.monotonic() < deadline:
        say(f"{what} {reading:.2f} > {limit}: waiting for a quieter machine ...")
        time.sleep(min(pause_s, max(1.0, deadline - time.monotonic())))
        reading = measure()
    return reading


def wait_until_settled(pid: int, *, children: int, timeout_s: float = 120.0) -> float:
    """Wait until ``pid`` has at least ``children`` descendants and they (with it) used
    under 0.1 s of CPU over the last second: the workers have imported torch and sit idle.
    Returns the seconds waited."""
    began = time.monotonic()
    last = -1.0
    while time.monotonic() - began < timeout_s:
        tree = [pid, *descendants(pid)]
        used = cpu_seconds(tree)
        if len(tree) - 1 >= children and last >= 0 and used - last < 0.1:
            break
        last = used
        time.sleep(1.0)
    return time.monotonic() - began
