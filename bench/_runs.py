"""Running one study two ways, for the benchmarks that compare them: through the service
(``rnntune serve``: REST API, supervised worker processes, SQLite) and as a plain Optuna script
(``study.optimize`` in this process over the same objective code).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from bench._quiet import wait_until_settled
from bench._server import free_port, start_server, stop_server, utcnow_naive
from service.config import Settings
from service.store import StudyStore
from service.tuning import make_objective, parse_spec_mapping, resolve_spec

DEFAULT_THREADS = torch.get_num_threads()  # torch's own default, before anyone changes it


@dataclass
class Run:
    """One study's outcome: wall time and its finished trials."""

    how: str
    wall_s: float
    trials: list[FrozenTrial]
    direction: str = "minimize"
    notes: list[str] = field(default_factory=list)

    @property
    def finished(self) -> list[FrozenTrial]:
        return [t for t in self.trials if t.state.is_finished()
                and t.datetime_start is not None and t.datetime_complete is not None]

    @property
    def n_finished(self) -> int:
        return len(self.finished)

    @property
    def trials_per_hour(self) -> float:
        return self.n_finished / self.wall_s * 3600 if self.wall_s > 0 else math.nan

    @property
    def worker_seconds(self) -> float:
        return sum(duration(t) for t in self.finished)

    @property
    def epochs(self) -> int:
        return sum(epochs_of(t) for t in self.finished)

    def best(self) -> float:
        values = [t.value for t in self.finished
                  if t.state == TrialState.COMPLETE and t.value is not None
                  and math.isfinite(t.value)]
        if not values:
            return math.nan
        return max(values) if self.direction == "maximize" else min(values)


def duration(trial: FrozenTrial) -> float:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return 0.0
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def epochs_of(trial: FrozenTrial) -> int:
    """Epochs a trial trained: its per-epoch log (which also holds a diverged last epoch),
    else its reported values."""
    log = trial.user_attrs.get("epochs")
    if isinstance(log, list):
        return len(log)
    return len(trial.intermediate_values)


# -- through the service -----------------------------------------------------------------


@contextlib.contextmanager
def serving(folder: Path, *, workers: int, env: dict[str, str] | None = None,
            log_path: Path | None = None) -> Iterator[tuple[str, str, int]]:
    """``rnntune serve`` on a fresh SQLite file in ``folder``, its workers idle and ready;
    yields (API URL, database URL, server pid)."""
    database_url = f"sqlite:///{folder / 'rnntune.db'}"
    port = free_port()
    server = start_server(database_url, port, folder, workers=workers, env=env,
                          log_path=log_path)
    try:
        # The workers import torch and connect; wait until they sit idle so that the study
        # meets a warm pool, as in a running service.
        wait_until_settled(server.pid, children=workers)
        yield f"http://127.0.0.1:{port}", database_url, server.pid
    finally:
        stop_server(server)


def submit_and_wait(url: str, database_url: str, spec: dict[str, Any], *,
                    timeout_s: float, poll_s: float = 0.5) -> Run:
    """POST the spec, wait for the study to complete; wall time runs from the POST to the
    end of its last trial."""
    with httpx.Client(base_url=url, timeout=60) as client:
        posted = utcnow_naive()
        response = client.post("/v1/studies", json=spec)
        response.raise_for_status()
        study_id = int(response.json()["id"])
        deadline = time.monotonic() + timeout_s
        status = "queued"
        while time.monotonic() < deadline:
            status = client.get(f"/v1/studies/{study_id}").json()["status"]
            if status not in ("queued", "running"):
                break
            time.sleep(poll_s)
    store = StudyStore(Settings(database_url=database_url, log_level="warning"))
    try:
        record = store.get(study_id)
        trials = store.trials(record)
    finally:
        store.close()
    ends = [t.datetime_complete for t in trials if t.datetime_complete is not None]
    wall = (max(ends) - posted).total_seconds() if ends else math.nan
    run = Run("service", wall, list(trials), direction=record.spec["objective"]["direction"])
    if status != "completed":
        run.notes.append(f"study {study_id} ended {status} (timeout {timeout_s:.0f} s)")
    return run


def run_service(spec: dict[str, Any], *, workers: int, timeout_s: float,
                log_path: Path | None = None) -> Run:
    """One study through a fresh ``rnntune serve`` with ``workers`` local worker processes."""
    with tempfile.TemporaryDirectory(prefix="rnntune-bench-") as tmp, \
            serving(Path(tmp), workers=workers, log_path=log_path) as (url, db, _):
        return submit_and_wait(url, db, spec, timeout_s=timeout_s)


# -- a plain Optuna script -------------------------------------------------------------------


def run_script(
    spec: dict[str, Any],
    *,
    n_trials: int,
    sampler: str = "tpe",
    seed: int | None = None,
    storage: str | None = None,
    threads: int | None = None,
    fresh_process: bool = True,
) -> Run:
    """A plain Optuna script: ``optuna.create_study()`` and ``study.optimize`` over rnntune's
    objective code (suggest from the space, build the model, train with the ``Trainer``),
    with Optuna's defaults (in memory unless ``storage``; no pruner) and torch's default
    threads; ``sampler`` "tpe" (Optuna's default) or "random", with ``seed``.

    ``fresh_process``: run it in a new Python process, as a user runs a script, so that it
    pays the same one-off costs of a process's first trial as a new worker does; imports
    are not timed, ``study.optimize`` is.
    """
    if not fresh_process:
        return _script(spec, n_trials, sampler, seed, storage, threads)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_script, spec, n_trials, sampler, seed, storage, threads).result()


def _script(spec: dict[str, Any], n_trials: int, sampler_name: str, seed: int | None,
            storage: str | None, threads: int | None) -> Run:
    import warnings

    from service.tuning import _objective

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _objective._TASK_DATA.clear()  # a fresh process would load the data too
    resolved = resolve_spec(parse_spec_mapping(spec), spaces_dir=Settings().search_spaces_dir)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or DEFAULT_THREADS)
    try:
        direction = optuna.study.StudyDirection[resolved.direction.upper()]
        sampler = (optuna.samplers.RandomSampler(seed=seed) if sampler_name == "random"
                   else optuna.samplers.TPESampler(seed=seed))
        study = optuna.create_study(direction=direction, sampler=sampler,
                                    pruner=optuna.pruners.NopPruner(), storage=storage)
        objective = make_objective(resolved, device=torch.device("cpu"), worker="script",
                                   study_id=study._study_id)
        started = time.perf_counter()
        study.optimize(objective, n_trials=n_trials, catch=(Exception,))
        wall = time.perf_counter() - started
    finally:
        torch.set_num_threads(previous)
    return Run("script", wall, study.trials, direction=resolved.direction)


def spread(values: Sequence[float]) -> str:
    finite = sorted(v for v in values if math.isfinite(v))
    if not finite:
        return "-"
    return f"{finite[0]:.3g}-{finite[-1]:.3g}"
