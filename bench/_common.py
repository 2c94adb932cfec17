"""Helpers shared by the benchmark scripts in ``bench/``: the machine's facts, waiting for a
quiet machine, CPU used by other jobs during a run, percentiles, and replacing one section of
``docs/benchmarks.md``.

The scripts import it as ``_common`` (``bench/`` is put on ``sys.path`` by each script).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from service.spaces import SearchSpace

ROOT = Path(__file__).resolve().parent.parent
DOC_PATH = ROOT / "docs" / "benchmarks.md"
DOC_INTRO = (
    "# Benchmarks\n\nMeasured figures of rnntune; each section names the script in `bench/` "
    "and the exact command that produced it.\n"
)
GPU_NOTE = ("No GPU figures: the machine these were measured on has no CUDA device "
            "(torch CPU build).")


# -- the machine ---------------------------------------------------------------------------


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


def load1() -> float:
    return os.getloadavg()[0]


def wait_for_quiet(max_load: float, timeout_s: float, *, log: bool = True) -> float:
    """Wait until the 1-minute load average is at most ``max_load`` (or ``timeout_s``
    passed); return the load seen last. Other jobs on a small machine spoil timings."""
    deadline = time.monotonic() + timeout_s
    load = load1()
    while load > max_load and time.monotonic() < deadline:
        if log:
            print(f"load {load:.2f} > {max_load}: waiting for a quieter machine ...",
                  flush=True)
        time.sleep(min(30.0, max(1.0, deadline - time.monotonic())))
        load = load1()
    return load


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


# -- figures -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


def fmt(value: float, digits: int = 2) -> str:
    """A number for a table; '-' for NaN or infinity."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


# -- docs/benchmarks.md --------------------------------------------------------------------


def replace_section(document: str, title: str, new_section: str) -> str:
    """Put ``new_section`` (which starts with ``title``) in place of the section called
    ``title`` (up to the next ``## `` heading), or append it."""
    pattern = re.compile(rf"^{re.escape(title)}[ \t]*\n.*?(?=^## |\Z)", re.M | re.S)
    body = new_section.rstrip("\n") + "\n"
    if pattern.search(document):
        return pattern.sub(lambda m: body + ("\n" if m.end() < len(document) else ""),
                           document, count=1)
    return document.rstrip("\n") + "\n\n" + body


def write_section(title: str, new_section: str, path: Path = DOC_PATH) -> None:
    """Replace one benchmark's section of ``path``; keep every other section."""
    document = path.read_text() if path.exists() else DOC_INTRO
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replace_section(document, title, new_section))


def header(title: str, *, intro: str, command: str, facts: str, conditions: str) -> list[str]:
    """The first lines every section shares: what, the command, the machine and the load."""
    return [title, "", intro, "", "```", command, "```", "", f"{facts}. {conditions}", ""]


# -- the service in a subprocess -------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(database_url: str, port: int, cwd: Path, *, workers: int = 0,
                 env: dict[str, str] | None = None, log_path: Path | None = None,
                 timeout_s: float = 90.0) -> subprocess.Popen[bytes]:
    """``rnntune serve --workers N`` on ``database_url``; returns once /healthz answers."""
    import httpx

    full_env = {**os.environ, "RNNTUNE_DATABASE_URL": database_url,
                "RNNTUNE_LOG_LEVEL": "warning", **(env or {})}
    sink = log_path.open("ab") if log_path is not None else subprocess.DEVNULL
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port),
         "--workers", str(workers)],
        cwd=cwd, env=full_env, stdout=sink, stderr=sink,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError("the server did not start")


def stop_server(server: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """Ctrl-C, as a user stops ``rnntune serve`` (its workers hand their trials back)."""
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# -- a study's history, made up ---------------------------------------------------------------


def synthetic_score(params: dict[str, Any], rng: random.Random) -> float:
    """Lower is better: a bowl in log(lr) and log(hidden size), plus noise."""
    lr = math.log10(float(params.get("lr", 3e-3)))
    hidden = math.log2(float(params.get("hidden_size", 64)))
    return 0.01 + 0.05 * (lr + 2.5) ** 2 + 0.01 * (hidden - 6) ** 2 + rng.random() * 0.01


def synthetic_trials(space: SearchSpace, count: int, *, seed: int,
                     max_epochs: int = 10) -> list[FrozenTrial]:
    """``count`` finished trials with random parameters of ``space`` and what a real trial
    stores: per-epoch intermediate values and user attributes; a quarter of them pruned."""
    import optuna
    from optuna.trial import TrialState

    rng = random.Random(seed)
    scratch = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    trials = []
    for _ in range(count):
        trial = scratch.ask()
        params = space.suggest(trial)
        final = synthetic_score(params, rng)
        pruned = rng.random() < 0.25
        epochs = rng.randint(3, 5) if pruned else max_epochs
        values = {step: final * (1 + 3.0 / step) for step in range(1, epochs + 1)}
        log = [{"epoch": s, "value": v, "train_loss": v * 1.1, "grad_norm_mean": 0.5,
                "grad_norm_max": 1.5} for s, v in values.items()]
        trials.append(optuna.trial.create_trial(
            state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
            value=None if pruned else min(values.values()),
            params=trial.params,
            distributions=trial.distributions,
            user_attrs={"epochs": log, "device": "cpu", "worker": "synthetic",
                        "best_epoch": epochs},
            intermediate_values=values,
        ))
        scratch.tell(trial, final)
    return trials


def add_trials_fast(database_url: str, study_name: str, trials: Sequence[FrozenTrial]) -> None:
    """Add finished ``trials`` to a study with a few bulk INSERTs into Optuna's tables.

    ``study.add_trials`` numbers each new trial by counting the study's trials, so filling a
    study of N trials costs O(N^2) (about 150 s for 10,000); this writes the same rows in a
    second. Benchmarks only: the service itself never writes Optuna's tables directly, so
    a service study filled this way must have its counters recounted afterwards
    (``StudyStore.repair_counters``).
    """
    import json

    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models
    from sqlalchemy import create_engine, func, insert, select, text

    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            study_id = conn.execute(select(models.StudyModel.study_id).where(
                models.StudyModel.study_name == study_name)).scalar_one()
            next_id = int(conn.execute(select(func.coalesce(
                func.max(models.TrialModel.trial_id), 0))).scalar_one()) + 1
            next_number = int(conn.execute(select(func.count()).select_from(
                models.TrialModel.__table__).where(
                models.TrialModel.study_id == study_id)).scalar_one())
            rows: dict[str, list[dict[str, Any]]] = {
                "trials": [], "params": [], "values": [], "intermediate": [], "attrs": []}
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            for i, trial in enumerate(trials):
                trial_id = next_id + i
                rows["trials"].append({
                    "trial_id": trial_id, "number": next_number + i, "study_id": study_id,
                    "state": trial.state.name,
                    "datetime_start": trial.datetime_start or now,
                    "datetime_complete": trial.datetime_complete or now,
                })
                for name, value in trial.params.items():
                    dist = trial.distributions[name]
                    rows["params"].append({
                        "trial_id": trial_id, "param_name": name,
                        "param_value": dist.to_internal_repr(value),
                        "distribution_json": distribution_to_json(dist)})
                if trial.values is not None:
                    for objective, value in enumerate(trial.values):
                        rows["values"].append({
                            "trial_id": trial_id, "objective": objective, "value": value,
                            "value_type": "FINITE"})
                for step, value in trial.intermediate_values.items():
                    rows["intermediate"].append({
                        "trial_id": trial_id, "step": step, "intermediate_value": value,
                        "intermediate_value_type": "FINITE"})
                for key, value in trial.user_attrs.items():
                    rows["attrs"].append({"trial_id": trial_id, "key": key,
                                          "value_json": json.dumps(value)})
            tables: dict[str, Any] = {
                "trials": models.TrialModel, "params": models.TrialParamModel,
                      "values": models.TrialValueModel,
                      "intermediate": models.TrialIntermediateValueModel,
                      "attrs": models.TrialUserAttributeModel}
            for name, model in tables.items():
                if rows[name]:
                    conn.execute(insert(model.__table__), rows[name])
            if conn.dialect.name == "postgresql":  # explicit ids leave the sequence behind
                conn.execute(text("SELECT setval(pg_get_serial_sequence('trials', 'trial_id'), "
                                  "(SELECT max(trial_id) FROM trials))"))
    finally:
        engine.dispose()


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


def utcnow_naive() -> dt.datetime:
    """Naive UTC, as Optuna 5 stores trial timestamps."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
