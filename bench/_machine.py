"""The machine a benchmark ran on and the code it measured, in one sentence for the docs."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import subprocess
from pathlib import Path


def cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine_facts(*, beside: str = "") -> str:
    """CPU count and model, RAM, Python, Optuna and torch versions, and today's date;
    ``beside``: what else the run used on the machine (say, the database server)."""
    ram = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import optuna
    import torch

    gpu = "CUDA " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    if beside:
        gpu += f", {beside}"
    return (f"{cores()} CPU cores ({model}), {ram} RAM, {gpu}, Python "
            f"{platform.python_version()}, Optuna {optuna.__version__}, torch "
            f"{torch.__version__}, {code_fact()}; measured {today}")


def code_fact() -> str:
    """The commit of the ``service`` package measured, and whether it had local changes:
    figures are only comparable for the same code."""
    import service

    root = Path(service.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--",
                                  "service"], capture_output=True, text=True,
                                 check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        # A copy of the tree without its git folder (say, on a lent GPU machine) names its
        # commit in RNNTUNE_COMMIT.
        return f"rnntune at {os.environ.get('RNNTUNE_COMMIT', 'an unknown commit')}"
    return f"rnntune at {commit}" + (" with local changes to service/" if changed else "")
