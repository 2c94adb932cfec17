"""Scale-out benchmark: many real worker processes on one PostgreSQL database.

For each worker count N this script creates a fresh PostgreSQL database on the local server,
starts N supervised worker processes (the same ``Supervisor`` that ``rnntune serve`` and
``rnntune worker`` use), lets them become idle, then submits one study with a very small real
objective (a 2-unit GRU on 16 adding-problem sequences of length 2, one epoch) through the
same path the API uses. When the study completes it stops the workers and reads the figures
back from the database:

- trials per second: finished trials / (last ``datetime_complete`` - first ``datetime_start``);
- the time a worker waits for its next trial: for each worker, the gap between one trial's
  ``datetime_complete`` and the same worker's next ``datetime_start`` (p50, p99, max);
- integrity: lost (budget - finished), duplicated (repeated trial numbers, or more finished
  trials than the budget), stuck (RUNNING or WAITING left), and FAIL trials: all must be 0;
- the peak number of connections to the benchmark database (sampled every 0.5 s);
- the cores the run kept busy while the study ran (the machine's busy time less other jobs'),
  trials/s per busy core, and the median wait scaled by each worker's share of a core.

With ``--poolers pgbouncer`` the workers reach the database through a PgBouncer in
transaction mode started for the run (``bench/_pgbouncer.py``), which runs their transactions
on ``--pool-size`` server connections.

The database is dropped at the end, also on error. Run ``python -m bench.scale_workers -h``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import logging
import math
import os
import re
import shlex
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from optuna.trial import FrozenTrial

from bench._benchmarks_doc import DOC_PATH, write_section
from bench._cpu_use import ForeignCpu, cpu_ticks, machine_busy
from bench._machine import machine_facts as common_machine_facts
from bench._pgbouncer import PgBouncer
from bench._quiet import wait_for_quiet
from bench._stats import percentile
from service.config import Settings
from service.store import StudyRecord, StudyStore, count_trials
from service.tuning import parse_spec_mapping, resolve_spec
from service.worker import Supervisor

log = logging.getLogger("bench.scale_workers")

DEFAULT_ADMIN_URL = os.environ.get(
    "RNNTUNE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SECTION_TITLE = "## Scale-out: many workers on PostgreSQL"
WORKER_APP = "rnntune-worker"
BENCH_APP = "rnntune-bench"
SAMPLE_EVERY_S = 0.5
# Integrity figures: any non-zero value is a bug in work distribution or recovery.
INTEGRITY_FIELDS = ("lost", "duplicated", "stuck")
# Before each run, wait (up to --quiet-wait) until at most this share of the cores is busy.
QUIET_BUSY_SHARE = 0.1


# -- the study ---------------------------------------------------------------------------


def code_version() -> str:
    """A digest of the ``service`` package's source: figures are only comparable within one."""
    import hashlib

    import service

    digest = hashlib.sha256()
    root = Path(service.__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def bench_spec(n_trials: int, *, name: str) -> dict[str, Any]:
    """A study whose trials do almost nothing: the cost measured is coordination, not math.

    A real objective all the same: the adding task is generated, a 2-unit GRU is built and
    trained for one epoch, the epoch is logged and the trial is told. ``lr`` is sampled so
    that the sampler runs too.
    """
    return {
        "name": name,
        "task": {"name": "adding", "seq_len": 2, "n_train": 16, "n_val": 16, "n_test": 16},
        "search_space": {
            "params": {
                "cell": "gru",
                "hidden_size": 2,
                "batch_size": 16,
                "lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
            }
        },
        "sampler": {"name": "random", "seed": 0},
        "pruner": {"name": "none"},
        "budget": {"n_trials": n_trials, "max_epochs": 1},
    }


def create_study(store: StudyStore, spec: dict[str, Any]) -> StudyRecord:
    """Validate and create a study exactly as ``POST /v1/studies`` does (minus HTTP)."""
    parsed = parse_spec_mapping(spec)
    resolved = resolve_spec(parsed, spaces_dir=store.settings.search_spaces_dir)
    return store.create(resolved)


# -- PostgreSQL ----------------------------------------------------------------------------


def libpq_url(sqlalchemy_url: str) -> str:
    """``postgresql+psycopg://...`` -> ``postgresql://...`` for psycopg itself."""
    return sqlalchemy_url.replace("+psycopg", "", 1)


def postgres_reachable(admin_url: str = DEFAULT_ADMIN_URL) -> bool:
    """Whether the PostgreSQL server answers (the smoke test skips when it does not)."""
    try:
        with psycopg.connect(libpq_url(admin_url), connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """Create ``rnntune_bench_<hex>`` and yield its SQLAlchemy URL; drop it afterwards."""
    name = f"rnntune_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_started(admin_url: str) -> dt.datetime | None:
    """When the PostgreSQL server last started (a change means it restarted meanwhile)."""
    try:
        with psycopg.connect(libpq_url(admin_url), connect_timeout=10) as conn:
            row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
    except psycopg.Error:
        return None
    return row[0] if row is not None else None


def server_version(admin_url: str) -> str:
    with psycopg.connect(libpq_url(admin_url)) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        limit = conn.execute("SHOW max_connections").fetchone()
    assert row is not None and limit is not None
    return f"PostgreSQL {row[0]} (max_connections {limit[0]})"


class ConnectionSampler:
    """Counts connections to one database every ``SAMPLE_EVERY_S`` in a thread.

    It connects to the admin database, so its own connection is not counted. Worker
    connections are told apart by their ``application_name``.
    """

    def __init__(self, admin_url: str, database: str) -> None:
        self._admin = libpq_url(admin_url)
        self._database = database
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-sampler", daemon=True)
        self._lock = threading.Lock()
        self.peak_total = 0
        self.peak_workers = 0
        self.study_peak_total = 0  # from ``study_started`` on: start-up left out
        self._study_started = False
        self.latest_workers = 0
        self.samples = 0
        self.errors = 0
        self.lock_samples = 0
        self.peak_lock_waiters = 0
        self.lock_queries: Counter[str] = Counter()

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        query = ("SELECT application_name, count(*), "
                 "count(*) FILTER (WHERE wait_event_type = 'Lock') "
                 "FROM pg_stat_activity WHERE datname = %s GROUP BY application_name")
        waiting_for = ("SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 70) "
                       "FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'")
        conn: psycopg.Connection[Any] | None = None
        while not self._stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self._admin, autocommit=True, connect_timeout=5)
                rows = conn.execute(query, (self._database,)).fetchall()
                blocked = [str(q) for (q,) in conn.execute(waiting_for, (self._database,))]
            except psycopg.Error:
                self.errors += 1  # the server may be restarting: reconnect next time
                if conn is not None:
                    conn.close()
                conn = None
            else:
                by_app = {str(app): int(n) for app, n, _ in rows}
                waiting = sum(int(w) for _, _, w in rows)
                with self._lock:
                    self.samples += 1
                    self.latest_workers = by_app.get(WORKER_APP, 0)
                    self.peak_workers = max(self.peak_workers, self.latest_workers)
                    self.peak_total = max(self.peak_total, sum(by_app.values()))
                    if self._study_started:
                        self.study_peak_total = max(self.study_peak_total,
                                                    sum(by_app.values()))
                    self.lock_samples += waiting > 0
                    self.peak_lock_waiters = max(self.peak_lock_waiters, waiting)
                    self.lock_queries.update(blocked)
            self._stop.wait(SAMPLE_EVERY_S)
        if conn is not None:
            conn.close()

    def study_started(self) -> None:
        with self._lock:
            self._study_started = True

    @property
    def lock_share(self) -> float:
        """The share of samples in which some connection waited for a lock."""
        with self._lock:
            return self.lock_samples / self.samples if self.samples else math.nan

    def worker_connections(self) -> int:
        with self._lock:
            return self.latest_workers


# -- figures -------------------------------------------------------------------------------


@dataclass
class RunResult:
    """The figures of one run with ``workers`` processes (times in seconds or milliseconds)."""

    workers: int
    budget: int
    pooler: str = "none"
    runs: int = 1
    trials: int = 0
    finished: int = 0
    complete: int = 0
    pruned: int = 0
    fail: int = 0
    retried: int = 0
    lost: int = 0
    duplicated: int = 0
    stuck: int = 0
    status: str = ""
    wall_s: float = math.nan
    trials_per_s: float = math.nan
    wait_p50_ms: float = math.nan
    wait_p99_ms: float = math.nan
    wait_max_ms: float = math.nan
    waits: int = 0
    trial_p50_ms: float = math.nan
    first_wave_s: float = math.nan
    rate_q2: float = math.nan
    rate_q4: float = math.nan
    workers_used: int = 0
    startup_s: float = math.nan
    peak_connections: int = 0
    peak_worker_connections: int = 0
    study_peak_connections: int = 0
    restarts: int = 0
    claimed: int = 0
    in_flight_left: int = 0
    other_cpu_share: float = math.nan
    server_restarted: bool = False
    code: str = ""
    lock_share: float = math.nan
    busy_cores: float = math.nan
    peak_lock_waiters: int = 0
    log_warnings: int = 0
    log_errors: int = 0
    log_path: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def trials_per_core_s(self) -> float:
        """Trials/s per core the run kept busy: throughput with the CPU it got accounted."""
        return self.trials_per_s / self.busy_cores if self.busy_cores > 0 else math.nan

    @property
    def wait_per_share_ms(self) -> float:
        """The median wait times the share of a core each worker had: what it would be if
        every worker had the CPU that each of 2 workers on 2 cores has (about one core)."""
        if not self.busy_cores > 0:
            return math.nan
        return self.wait_p50_ms * min(1.0, self.busy_cores / self.workers)

    @property
    def label(self) -> str:
        return f"{self.workers}" + ("" if self.pooler == "none" else f" via {self.pooler}")

    @property
    def clean(self) -> bool:
        """No lost, duplicated or stuck trial, no failure left unretried, study completed.

        A FAIL that was retried (a trial whose worker lost its database or died) is the
        recovery path working, not a lost trial; it is still shown.
        """
        return (all(getattr(self, name) == 0 for name in INTEGRITY_FIELDS)
                and self.fail == self.retried and self.status == "completed")


def _ms(delta: dt.timedelta) -> float:
    return delta.total_seconds() * 1000.0


@dataclass(frozen=True)
class _Span:
    """When one finished trial ran, and in which worker."""

    worker: str
    start: dt.datetime
    end: dt.datetime


def analyse(trials: Sequence[FrozenTrial], budget: int) -> RunResult:
    """Throughput, per-worker wait for the next trial and integrity counts from the trials."""
    counts = count_trials(trials)
    numbers = Counter(t.number for t in trials)
    result = RunResult(workers=0, budget=budget, trials=len(trials))
    result.finished = counts.finished
    result.complete, result.pruned = counts.complete, counts.pruned
    result.fail, result.retried = counts.fail, counts.retried
    result.lost = max(0, budget - counts.finished)
    result.duplicated = (sum(n - 1 for n in numbers.values() if n > 1)
                         + max(0, counts.finished - budget))
    result.stuck = counts.running + counts.waiting

    spans = [
        _Span(str(t.user_attrs.get("worker", "?")), t.datetime_start, t.datetime_complete)
        for t in trials if t.datetime_start is not None and t.datetime_complete is not None
    ]
    if not spans:
        return result
    first = min(s.start for s in spans)
    ends = sorted(s.end for s in spans)
    result.wall_s = (ends[-1] - first).total_seconds()
    if result.wall_s > 0:
        result.trials_per_s = counts.finished / result.wall_s
    result.trial_p50_ms = percentile([_ms(s.end - s.start) for s in spans], 50)
    result.rate_q2, result.rate_q4 = _rate(ends, 1), _rate(ends, 3)

    by_worker: dict[str, list[_Span]] = defaultdict(list)
    for span in sorted(spans, key=lambda s: s.start):
        by_worker[span.worker].append(span)
    waits = [_ms(after.start - before.end)
             for runs in by_worker.values() for before, after in itertools.pairwise(runs)]
    # Every process's first trial pays one-off costs (lazy imports, first torch calls).
    result.first_wave_s = (max(runs[0].end for runs in by_worker.values())
                           - first).total_seconds()
    result.workers_used = len(by_worker)
    result.waits = len(waits)
    result.wait_p50_ms = percentile(waits, 50)
    result.wait_p99_ms = percentile(waits, 99)
    result.wait_max_ms = max(waits) if waits else math.nan
    return result


def _rate(ends: Sequence[dt.datetime], quarter: int) -> float:
    """Trials per second over one quarter (0-3) of the trials, in order of completion."""
    lo, hi = len(ends) * quarter // 4, len(ends) * (quarter + 1) // 4 - 1
    if hi <= lo:
        return math.nan
    span = (ends[hi] - ends[lo]).total_seconds()
    return (hi - lo) / span if span > 0 else math.nan


def _summarise_log(path: Path, result: RunResult) -> None:
    text = path.read_text(errors="replace") if path.exists() else ""
    # Our lines ("... WARNING name: ...") and Optuna's own ("[W 2026-...] ...").
    result.log_warnings = len(re.findall(r" WARNING |^\[W ", text, re.M))
    result.log_errors = len(re.findall(r" (?:ERROR|CRITICAL) |^\[[EC] |^Traceback", text, re.M))
    result.log_path = str(path)
    # The last line of each traceback names the error; list each distinct one once.
    errors = Counter(m.group(1).strip() for m in re.finditer(
        r"^Traceback \(most recent call last\):\n(?:[ \t].*\n)*(.+)$", text, re.M))
    result.notes.extend(f"worker log: {n} x {error[:200]}" for error, n in errors.items())


# -- one run -------------------------------------------------------------------------------


@contextlib.contextmanager
def _stdio_to(path: Path) -> Iterator[None]:
    """Send this process's fds 1 and 2 (which the worker processes inherit) to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with path.open("ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _with_app(url: str, app: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}application_name={app}"


@contextlib.contextmanager
def _pooled(pooler: str, admin_url: str, pool_size: int) -> Iterator[PgBouncer | None]:
    if pooler == "none":
        yield None
        return
    with PgBouncer(libpq_url(admin_url), pool_size=pool_size) as bouncer:
        yield bouncer


def _settings(url: str, app: str, *, pooled: bool = False) -> Settings:
    """Production-like heartbeats; a short idle poll so idle workers pick work up quickly."""
    return Settings(
        db_transaction_pooler=pooled,
        database_url=_with_app(url, app),
        heartbeat_interval_s=10,
        grace_period_s=40,
        poll_interval_s=0.2,
        device="cpu",
        log_level="warning",
    )


def _wait(condition: Callable[[], bool], *, timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return bool(condition())


def run_once(
    workers: int,
    *,
    budget: int,
    admin_url: str,
    timeout_s: float,
    log_dir: Path,
    pooler: str = "none",
    pool_size: int = 20,
) -> RunResult:
    """One fresh database, ``workers`` processes (through ``pooler``), one study of
    ``budget`` trials."""
    server_before = server_started(admin_url)
    code_before = code_version()
    with fresh_database(admin_url) as url, _pooled(pooler, admin_url, pool_size) as bouncer:
        database = url.rsplit("/", 1)[1]
        log_path = log_dir / f"workers-{workers}-{pooler}-{database}.log"
        store = StudyStore(_settings(url, BENCH_APP))
        store.initialize()
        worker_url = url if bouncer is None else bouncer.url_for(url)
        supervisor = Supervisor(_settings(worker_url, WORKER_APP, pooled=bouncer is not None),
                                count=workers, name=f"bench{workers}")
        notes: list[str] = []

        def connected() -> int:
            # An idle worker holds one connection: to the server, or to the pooler.
            return (sampler.worker_connections() if bouncer is None
                    else bouncer.clients(database))

        try:
            # PostgreSQL (and the pooler) serve the workers: their CPU is part of the run.
            foreign_cpu = ForeignCpu(SAMPLE_EVERY_S, exclude=("postgres", "pgbouncer"))
            with ConnectionSampler(admin_url, database) as sampler, foreign_cpu as foreign, \
                    _stdio_to(log_path):
                began = time.monotonic()
                supervisor.start()
                # Wait for every worker to connect, so the study meets warm workers, as it
                # would in a running service, and startup (importing torch) is not timed.
                ready = _wait(lambda: connected() >= workers,
                              timeout=max(60.0, 10.0 * workers))
                startup_s = time.monotonic() - began
                if not ready:
                    notes.append(f"only {connected()} worker connections "
                                 f"after {startup_s:.0f}s; started the study anyway")
                ticks_before = cpu_ticks()
                record = create_study(store, bench_spec(budget, name=f"bench-{workers}w"))
                sampler.study_started()
                finished = _wait(lambda: store.get(record.id).status == "completed",
                                 timeout=timeout_s, every=0.5)
                ticks_after = cpu_ticks()
                if not finished:
                    notes.append(f"study not completed after {timeout_s:.0f}s")
                time.sleep(1.0)  # a worker that over-claimed would start a trial now
                supervisor.stop()
            trials = store.trials(record)
            # The study's own budget: the service may keep a few trials of the requested
            # one back (its n_trials), and lost trials are counted against what it runs.
            result = analyse(trials, record.n_trials)
            states = Counter(t.state.name for t in trials)
            final = store.get(record.id)
        finally:
            supervisor.stop()
            store.close()
        result.workers = workers
        result.pooler = pooler
        result.status = final.status
        busy, total = (after - before for after, before in zip(ticks_after, ticks_before,
                                                               strict=True))
        cores = os.cpu_count() or 1
        if total > 0:
            # Busy cores over the study, less what other jobs used (over the whole run).
            result.busy_cores = max(0.05, cores * (busy / total - foreign.share))
        if bouncer is not None:
            result.notes.append(f"through PgBouncer (transaction mode, {pool_size} server "
                                "connections)")
        result.claimed, result.in_flight_left = final.claimed, final.in_flight
        result.startup_s = startup_s
        result.notes = notes
        result.other_cpu_share = foreign.share
        if foreign.share > 0.05:
            result.notes.append("CPU used by other jobs: " + ", ".join(
                f"{name} {seconds:.0f} s" for name, seconds in foreign.top()))
        result.peak_connections = sampler.peak_total
        result.peak_worker_connections = sampler.peak_workers
        result.study_peak_connections = sampler.study_peak_total
        result.lock_share = sampler.lock_share
        result.peak_lock_waiters = sampler.peak_lock_waiters
        if sampler.lock_share > 0.05:
            result.notes.append("statements seen waiting for a lock: " + "; ".join(
                f"{n} x `{q}...`" for q, n in sampler.lock_queries.most_common(2)))
        result.restarts = sum(slot.restarts for slot in supervisor.slots)
        if server_started(admin_url) != server_before:
            result.server_restarted = True
            result.notes.append("the PostgreSQL server restarted during the run (another "
                                "job); the workers had to ride it out")
        result.code = code_version()
        if result.code != code_before:
            result.notes.append(f"the service code changed during the run ({code_before} -> "
                                f"{result.code})")
        if result.restarts:
            result.notes.append(f"the supervisor restarted {result.restarts} worker(s)")
        _summarise_log(log_path, result)
        if result.in_flight_left:
            result.notes.append(f"in_flight counter left at {result.in_flight_left}")
        if result.claimed != record.n_trials:
            result.notes.append(f"claimed counter {result.claimed} != budget "
                                f"{record.n_trials}")
        if not result.clean:
            result.notes.append("trial states: " + ", ".join(
                f"{state} {n}" for state, n in sorted(states.items())))
        return result


def combine(runs: Sequence[RunResult]) -> RunResult:
    """Medians of the figures over repeats; integrity counts and warnings are summed."""
    if len(runs) == 1:
        return runs[0]
    out = RunResult(workers=runs[0].workers, budget=runs[0].budget, pooler=runs[0].pooler,
                    runs=len(runs))
    medians = ("wall_s", "trials_per_s", "wait_p50_ms", "wait_p99_ms", "wait_max_ms",
               "trial_p50_ms", "startup_s", "first_wave_s", "rate_q2", "rate_q4",
               "other_cpu_share", "lock_share", "busy_cores")
    for name, value in asdict(runs[0]).items():
        values = [getattr(r, name) for r in runs]
        if name in medians:
            setattr(out, name, statistics.median(values))
        elif name in ("peak_connections", "peak_worker_connections", "workers_used",
                      "peak_lock_waiters", "study_peak_connections"):
            setattr(out, name, max(values))
        elif isinstance(value, bool):
            setattr(out, name, any(values))
        elif isinstance(value, int) and name not in ("workers", "budget", "runs"):
            setattr(out, name, sum(values))
    out.status = ",".join(sorted({r.status for r in runs}))
    out.code = ",".join(sorted({r.code for r in runs}))
    out.notes = [f"run {i}: {note}" for i, r in enumerate(runs, 1) for note in r.notes]
    out.log_path = ", ".join(r.log_path for r in runs)
    return out


# -- output --------------------------------------------------------------------------------


def table(results: Sequence[RunResult]) -> str:
    """The results as a markdown table."""
    head = ("| workers | trials (all runs) | trials/s | wait p50 (ms) | wait p99 (ms) "
            "| wait max (ms) | trial p50 (ms) | lost | duplicated | stuck | FAIL (retried) "
            "| peak connections | peak during the study |")
    rule = "|" + "---:|" * 13
    rows = [
        f"| {r.label} | {r.finished}/{r.budget * r.runs} | {r.trials_per_s:.1f} "
        f"| {r.wait_p50_ms:.0f} | {r.wait_p99_ms:.0f} | {r.wait_max_ms:.0f} "
        f"| {r.trial_p50_ms:.0f} | {r.lost} | {r.duplicated} | {r.stuck} | {r.fail} ({r.retried}) "
        f"| {r.peak_connections} ({r.peak_worker_connections} workers') "
        f"| {r.study_peak_connections} |"
        for r in results
    ]
    return "\n".join([head, rule, *rows])


def detail_table(results: Sequence[RunResult]) -> str:
    """Startup, warm-up and how throughput changes as the study grows, as a markdown table."""
    head = ("| workers | all idle after (s) | first-trial wave (s) | trials/s, 2nd quarter "
            "| trials/s, last quarter | lock waits: samples, peak | worker restarts "
            "| log warnings/errors | CPU used by other jobs |")
    rule = "|" + "---:|" * 9
    rows = [
        f"| {r.label} | {r.startup_s:.1f} | {r.first_wave_s:.1f} | {r.rate_q2:.1f} "
        f"| {r.rate_q4:.1f} | {r.lock_share:.0%}, {r.peak_lock_waiters} | {r.restarts} "
        f"| {r.log_warnings}/{r.log_errors} "
        f"| {r.other_cpu_share:.0%} |"
        for r in results
    ]
    return "\n".join([head, rule, *rows])


def cpu_table(results: Sequence[RunResult]) -> str:
    """Throughput and wait with the CPU each run got accounted, as a markdown table."""
    head = ("| workers | busy cores | trials/s per busy core | wait p50 (ms) "
            "| wait p50 x core share per worker (ms) |")
    rule = "|" + "---:|" * 5
    rows = [
        f"| {r.label} | {r.busy_cores:.2f} | {r.trials_per_core_s:.2f} | {r.wait_p50_ms:.0f} "
        f"| {r.wait_per_share_ms:.0f} |"
        for r in results
    ]
    return "\n".join([head, rule, *rows])


def machine_facts(admin_url: str) -> str:
    """The machine, the PostgreSQL server beside the workers, versions and date."""
    return common_machine_facts(beside=f"{server_version(admin_url)} on the same machine") + "."


def _reading(results: Sequence[RunResult]) -> list[str]:
    """How to read the figures: the fixed explanation, with ratios to the smallest pool."""
    direct = [r for r in results if r.pooler == "none"] or list(results)
    base = min(direct, key=lambda r: r.workers)
    ratios = [
        f"{r.label} workers gave {r.trials_per_s / base.trials_per_s:.2f}x the trials/s, "
        f"{r.trials_per_core_s / base.trials_per_core_s:.2f}x the trials/s per busy core, "
        f"{r.wait_p50_ms / base.wait_p50_ms:.1f}x the median wait and "
        f"{r.wait_per_share_ms / base.wait_per_share_ms:.2f}x the median wait scaled by "
        f"the core share of {base.workers}"
        for r in results if r is not base and base.trials_per_s > 0 and base.wait_p50_ms > 0
        and base.busy_cores > 0
    ]
    compared = f" Here {'; '.join(ratios)}." if ratios else ""
    late_vs_early = ", ".join(
        f"{r.rate_q4 / r.rate_q2:.2f} with {r.label} workers" for r in results if r.rate_q2 > 0
    )
    return [
        "How to read this: the machine has 2 cores, so many one-thread workers cannot "
        "train faster than 2, and these runs measure coordination overhead and correctness "
        "under contention, not speed-up (a pool of one worker per core is the reference). "
        "The processes share the 2 cores with each other, the PostgreSQL server and other "
        "jobs, so each worker waits for CPU: the wait grows at least with the number of "
        "workers per busy core. *Trials/s per busy core* and the wait scaled by each "
        "worker's share of a core (busy cores / workers, at most 1) take that out."
        f"{compared} Other jobs on the machine (CPU column of the second table) disturb "
        "runs; compare ratios within one run of the command.",
        "",
        "Does a trial get dearer as the study grows? Last-quarter over 2nd-quarter "
        f"trials/s: {late_vs_early}; well below 1 would mean it does.",
        "",
        "A worker process holds one connection (its service tables and Optuna's storage "
        "share one pool of one; the heartbeat thread borrows a short-lived second one when "
        "it meets a statement of the trial loop), so 64 workers fit under the default "
        "`max_connections = 100`. Through PgBouncer in transaction mode they share its "
        "server connections (the pool size above), so the server's limit no longer bounds "
        "the number of workers. Lock waits (see the notes) are mostly Optuna numbering a "
        "new trial under a row lock on its study, and the claim's update of the study's row: "
        "every worker of one study passes through both.",
    ]


def section(results: Sequence[RunResult], *, command: str, facts: str, repeats: int) -> str:
    """The docs/benchmarks.md section for these results."""
    agg = f"medians of {repeats} runs" if repeats > 1 else "one run each"
    budgets = ", ".join(f"{r.budget} trials with {r.label} workers" for r in results)
    dirty = [r for r in results if not r.clean]
    fails = sum(r.fail for r in results)
    integrity = (
        "**Integrity: no lost, duplicated or stuck trial in any run, and "
        + (f"all {fails} FAIL trials were retried.**" if fails else "no FAIL.**")
        if not dirty else
        "**Integrity: NOT clean** in the runs with "
        + ", ".join(f"{r.label} workers" for r in dirty) + " (see the notes below)."
    )
    notes = [f"- {r.label} workers: {note}" for r in results for note in r.notes]
    lines = [
        SECTION_TITLE,
        "",
        "N real worker processes (`Supervisor`, as under `rnntune serve` / `rnntune worker`) "
        "share one study on one PostgreSQL database. The objective is very small but real: "
        "a 2-unit GRU trained for one epoch on 16 adding-problem sequences of length 2 "
        f"(random sampler over `lr`, no pruner); study budget: {budgets}. Each run uses a "
        "fresh database, and the study is submitted once every worker is up and idle, so "
        "importing torch is not timed. Heartbeat 10 s, grace period 40 s, idle poll 0.2 s.",
        "",
        "```",
        command,
        "```",
        "",
        facts,
        "",
        f"Figures ({agg}):",
        "",
        table(results),
        "",
        detail_table(results),
        "",
        cpu_table(results),
        "",
        integrity,
        "",
        "- *trials/s*: finished trials / (last trial's end - first trial's start). The "
        "quarter rates count the trials in order of completion: the 2nd quarter is past the "
        "warm-up, the last one shows the cost of a large study.",
        "- *wait*: per worker, from the end of one trial (`datetime_complete`) to the start "
        "of its next (`datetime_start`): status refresh, claiming a budget slot, rebuilding "
        "sampler and pruner from the stored spec, loading the study, Optuna's stale-trial "
        "check and `ask`. *trial*: start to end of one trial (train, report, `tell`).",
        "- *lost* = budget - finished; *duplicated* = repeated trial numbers + finished "
        "trials beyond the budget; *stuck* = trials left RUNNING or WAITING after the study "
        "completed and the workers stopped. All must be 0. *FAIL (retried)*: failed trials, "
        "and how many of them were re-run with the same parameters (their worker lost the "
        "database or died); a FAIL not retried would be a trial given up on.",
        "- *peak connections*: most connections to the benchmark database at once (sampled "
        "every 0.5 s; in brackets the workers'; the rest is the benchmark's own store), "
        "from starting the pool on; *peak during the study*: the same from the study's "
        "submission on, start-up left out.",
        "- *busy cores*: the machine's busy time over the study (from `/proc/stat`) less the "
        "CPU used by other jobs, in cores; *wait p50 x core share*: the median wait times "
        "busy cores / workers (at most 1).",
        "- *all idle after*: from starting the pool until every worker held its idle "
        "connection; *first-trial wave*: until every worker had finished its first trial, "
        "which pays one-off costs in each process (about 1.2 s of CPU).",
        "- *lock waits*: the share of samples in which some connection to the benchmark "
        "database waited for a lock, and the most waiting at once. *CPU used by other "
        "jobs*: CPU time of processes other than this benchmark, its workers and PostgreSQL, "
        "as a share of the machine over the run.",
        *notes,
        "",
        *_reading(results),
        "",
    ]
    return "\n".join(lines)


def write_doc(new_section: str, path: Path = DOC_PATH) -> None:
    """Replace this benchmark's section of ``docs/benchmarks.md``; keep the others."""
    write_section(SECTION_TITLE, new_section, path)


# -- command line --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale_workers",
        description="Throughput, wait for the next trial and integrity of N worker processes "
                    "on one PostgreSQL database.",
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[16, 32],
                        help="worker counts to run (default: 16 32)")
    parser.add_argument("--trials-per-worker", type=int, default=20,
                        help="study budget = workers x this (default: 20)")
    parser.add_argument("--budget", type=int, default=None,
                        help="the same study budget for every worker count instead (the cost "
                             "of a trial grows with the study's size, so this compares worker "
                             "counts at equal size)")
    parser.add_argument("--poolers", nargs="+", choices=["none", "pgbouncer"],
                        default=["none"],
                        help="how workers reach PostgreSQL: directly, or through a PgBouncer "
                             "in transaction mode started for the run (default: none)")
    parser.add_argument("--pool-size", type=int, default=20,
                        help="server connections of the PgBouncer pool (default: 20)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs per worker count; figures are medians (default: 1)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds to wait for one study to complete (default: 900)")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL,
                        help="SQLAlchemy URL of a database on the server where benchmark "
                             "databases may be created (default: RNNTUNE_TEST_POSTGRES_URL "
                             "or the local server as postgres)")
    parser.add_argument("--quiet-wait", type=float, default=600.0,
                        help="before each run, wait up to this many seconds for the machine's "
                             "cores to be idle (other jobs distort the timings; default: 600, "
                             "0 to start at once)")
    parser.add_argument("--log-dir", type=Path, default=None,
                        help="where the worker logs go (default: a new temporary folder)")
    parser.add_argument("--quick", action="store_true",
                        help="2 workers, 3 trials each: a smoke test of the benchmark itself")
    parser.add_argument("--json", type=Path, default=None,
                        help="keep every run's figures (not only the medians) in this file; "
                             "runs already there (same workers, budget and service code) are "
                             "reused, so an interrupted command can be run again to finish")
    parser.add_argument("--write-doc", action="store_true",
                        help=f"replace the section '{SECTION_TITLE[3:]}' of docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.workers, args.trials_per_worker, args.budget, args.repeats = [2], 3, None, 1
        args.timeout = min(args.timeout, 120.0)
        args.quiet_wait = 0.0
    if min(args.workers) < 1 or args.trials_per_worker < 1 or args.repeats < 1 or (
        args.budget is not None and args.budget < 1
    ):
        parser.error("--workers, --trials-per-worker, --budget and --repeats must be at least 1")
    return args


def load_runs(path: Path) -> list[RunResult]:
    """The runs saved by ``--json``."""
    return [RunResult(**row) for row in json.loads(path.read_text())]


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> list[RunResult]:
    """Run the benchmark; print the table (and update the doc); return the results."""
    args = parse_args(argv)
    if threading.current_thread() is not threading.main_thread():
        return _main(args, argv)
    # Stopped by SIGTERM: unwind, so that the workers are stopped and the database dropped.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return _main(args, argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(args: argparse.Namespace, argv: Sequence[str] | None) -> list[RunResult]:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="rnntune-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    results: list[RunResult] = []
    every_run: list[dict[str, Any]] = []
    saved = load_runs(args.json) if args.json is not None and args.json.exists() else []
    code = code_version()
    # Each worker count with every pooler in turn: the pairs compared run close together.
    for workers, pooler in itertools.product(args.workers, args.poolers):
        runs = []
        budget = args.budget or workers * args.trials_per_worker
        for repeat in range(args.repeats):
            earlier = next((r for r in saved if (r.workers, r.budget, r.code, r.pooler)
                            == (workers, budget, code, pooler)), None)
            if earlier is not None:
                saved.remove(earlier)
                log.info("%d workers, run %d/%d: reusing the run saved in %s", workers,
                         repeat + 1, args.repeats, args.json)
                runs.append(earlier)
                every_run.append(asdict(earlier))
                continue
            if args.quiet_wait > 0:
                wait_for_quiet(QUIET_BUSY_SHARE, args.quiet_wait, measure=machine_busy,
                               what="share of the cores busy", pause_s=10.0, say=log.info)
            log.info("%d workers, run %d/%d ...", workers, repeat + 1, args.repeats)
            run = run_once(workers, budget=budget, admin_url=args.admin_url,
                           timeout_s=args.timeout, log_dir=log_dir, pooler=pooler,
                           pool_size=args.pool_size)
            log.info("%d workers: %.1f trials/s, wait p50 %.0f ms p99 %.0f ms, lost %d, "
                     "duplicated %d, stuck %d, FAIL %d, log %s", workers, run.trials_per_s,
                     run.wait_p50_ms, run.wait_p99_ms, run.lost, run.duplicated, run.stuck,
                     run.fail, run.log_path)
            runs.append(run)
            every_run.append(asdict(run))
            if args.json is not None:
                args.json.write_text(json.dumps(every_run, indent=1, default=str))
        results.append(combine(runs))
    print(table(results))
    print()
    print(detail_table(results))
    print()
    print(cpu_table(results))
    for result in results:
        for note in result.notes:
            print(f"note ({result.label} workers): {note}")
    if args.write_doc:
        argv_list = list(sys.argv[1:] if argv is None else argv)
        command = "python -m bench.scale_workers " + shlex.join(argv_list)
        write_doc(section(results, command=command.strip(), facts=machine_facts(args.admin_url),
                          repeats=args.repeats))
        print(f"wrote the section to {DOC_PATH}")
    return results


if __name__ == "__main__":
    sys.exit(0 if all(r.clean for r in main()) else 1)
