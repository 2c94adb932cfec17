"""The ways of searching that ``search_efficiency.py`` compares, each within a wall-clock budget
on the same cores, each ending as a ``RunRecord``.

- through the service: a study POSTed to ``rnntune serve`` and its worker pool (setups 1, 2);
- a plain Optuna script: TPE + ``HyperbandPruner``, ``study.optimize`` in one process per core
  sharing a journal file (setup 3);
- the one-epoch baseline: random configurations trained one epoch each, the best continued to
  the full budget (setup 5).

Ray Tune (setup 4) runs in its own process: ``_ray_asha.py``. All of them train with
rnntune's own code: the space's ``suggest``, the model and the ``Trainer``.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import multiprocessing
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import httpx
import optuna
import torch

from bench._anytime import TrialRecord, interpolated_ends
from bench._runs import serving
from service.config import Settings
from service.store import StudyStore
from service.tuning import ResolvedStudy, make_objective, parse_spec_mapping, resolve_spec

ROOT = Path(__file__).resolve().parent.parent


def resolve(spec: dict[str, Any]) -> ResolvedStudy:
    return resolve_spec(parse_spec_mapping(spec), spaces_dir=ROOT / "search_spaces")


def _direction(resolved: ResolvedStudy) -> optuna.study.StudyDirection:
    return optuna.study.StudyDirection[resolved.direction.upper()]


def _timestamp(moment: dt.datetime) -> float:
    """Optuna 5 stores naive UTC datetimes."""
    return moment.replace(tzinfo=dt.UTC).timestamp()


def records_from_optuna(trials: list[optuna.trial.FrozenTrial], *, origin: float,
                        snapshot: float) -> list[TrialRecord]:
    """Trials read from a study at ``snapshot`` (epoch seconds) as records timed from
    ``origin``; a trial still running then holds its worker until the snapshot."""
    out = []
    for trial in trials:
        if trial.datetime_start is None:
            continue  # waiting: never started
        log = trial.user_attrs.get("epochs")
        values = [float(e["value"]) for e in log] if isinstance(log, list) else []
        start = _timestamp(trial.datetime_start) - origin
        running = trial.datetime_complete is None
        end = (snapshot if running else _timestamp(trial.datetime_complete)) - origin  # type: ignore[arg-type]
        state = "running" if running else trial.state.name.lower()
        out.append(TrialRecord(
            params=dict(trial.params), state=state, values=values,
            ends=interpolated_ends(start, end, len(values), cut=running),
            busy=[(start, end)]))
    return out


# -- through the service (setups 1 and 2) -----------------------------------------------------


def run_service(spec: dict[str, Any], *, budget_s: float, workers: int,
                log_path: Path | None = None) -> tuple[list[TrialRecord], float, list[str]]:
    """POST ``spec`` (whose budget ends at ``budget_s``) to a fresh ``rnntune serve`` with
    ``workers`` warm workers; read its trials back once the budget is over."""
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rnntune-bench-") as tmp, \
            serving(Path(tmp), workers=workers, log_path=log_path) as (url, database_url, _):
        with httpx.Client(base_url=url, timeout=60) as client:
            origin = time.time()
            response = client.post("/v1/studies", json=spec)
            if response.status_code != 201:
                raise RuntimeError(f"the service refused the study: {response.text}")
            study_id = int(response.json()["id"])
            time.sleep(max(0.0, origin + budget_s - time.time()))
            status = client.get(f"/v1/studies/{study_id}").json()["status"]
        snapshot = time.time()
        store = StudyStore(Settings(database_url=database_url, log_level="warning"))
        try:
            trials = store.trials(store.get(study_id))
        finally:
            store.close()
        if status not in ("running", "completed"):
            notes.append(f"the study was {status} at the end of its budget")
    return records_from_optuna(trials, origin=origin, snapshot=snapshot), snapshot - origin, notes


# -- a plain Optuna script (setup 3) -------------------------------------------------------------


def run_optuna_hyperband(spec: dict[str, Any], *, budget_s: float, processes: int,
                         seed: int) -> tuple[list[TrialRecord], float, list[str]]:
    """TPE + ``HyperbandPruner(min_resource=1, max_resource=max_epochs)``, the objective of
    rnntune (``make_objective``), ``study.optimize`` in ``processes`` fresh processes of one
    torch thread each, sharing one journal file; stopped when the budget is over."""
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="rnntune-bench-optuna-") as tmp:
        path = str(Path(tmp) / "journal.log")
        resolved = resolve(spec)
        study = optuna.create_study(storage=_journal(path), study_name="bench",
                                    direction=_direction(resolved))
        ready = context.Barrier(processes + 1)
        children = [context.Process(target=_optuna_process,
                                    args=(spec, path, _process_seed(seed, i), ready),
                                    daemon=True)
                    for i in range(processes)]
        for child in children:
            child.start()
        ready.wait(timeout=300)  # every process has imported torch and loaded the study
        origin = time.time()
        time.sleep(max(0.0, origin + budget_s - time.time()))
        snapshot = time.time()
        trials = optuna.load_study(study_name="bench", storage=_journal(path)).trials
        for child in children:
            child.terminate()
        for child in children:
            child.join(timeout=30)
    del study
    return records_from_optuna(trials, origin=origin, snapshot=snapshot), snapshot - origin, []


def _process_seed(seed: int, process: int) -> int:
    """Each process its own TPE seed (one seed in all would draw the same start-up trials),
    and streams apart from the service's per-slot seeds of the same run seed."""
    return (seed * 1_000_003 + 500_000 + process) % (2**31 - 1)


def _journal(path: str) -> optuna.storages.BaseStorage:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(path))


def _optuna_process(spec: dict[str, Any], path: str, seed: int, ready: Any) -> None:
    import warnings

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)  # one process per core, as the service's workers
    resolved = resolve(spec)
    max_epochs = resolved.spec.budget.max_epochs
    study = optuna.load_study(
        study_name="bench", storage=_journal(path),
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs))
    objective = make_objective(resolved, device=torch.device("cpu"), worker=f"script-{seed}",
                               study_id=study._study_id)
    ready.wait()
    study.optimize(objective, catch=(Exception,))  # until the parent stops it


# -- the one-epoch baseline (setup 5) -------------------------------------------------------------


def run_one_epoch(spec: dict[str, Any], *, budget_s: float, processes: int, seed: int,
                  share: float) -> tuple[list[TrialRecord], float, list[str]]:
    """Random configurations (the space's ``suggest`` under a seeded ``RandomSampler``)
    trained one epoch each for the first ``share`` of the budget; then the best of them, in
    order, continued from their first epoch to ``max_epochs`` until the budget is over."""
    resolved = resolve(spec)
    draws = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed),
                                direction=_direction(resolved))
    sign = -1.0 if resolved.direction == "maximize" else 1.0
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context,
                             initializer=_one_thread) as pool:
        list(pool.map(_warm, [spec] * processes))  # imports and data, before the clock
        origin = time.time()
        deadline, first_phase_end = origin + budget_s, origin + share * budget_s
        trials: list[TrialRecord] = []
        states: dict[int, bytes] = {}
        continued: set[int] = set()
        running: dict[Future[Any], int] = {}

        def submit(index: int, state: bytes | None) -> None:
            running[pool.submit(_train, spec, trials[index].params, state, deadline,
                                origin)] = index

        while True:
            now = time.time()
            while len(running) < processes and now < deadline:
                if now < first_phase_end:
                    trial = draws.ask()
                    trials.append(TrialRecord(params=resolved.space.suggest(trial),
                                              state="running", values=[], ends=[], busy=[]))
                    submit(len(trials) - 1, None)
                    continue
                ranked = sorted((i for i in states if i not in continued),
                                key=lambda i: sign * _first(trials[i]))
                if not ranked:
                    break
                continued.add(ranked[0])
                submit(ranked[0], states[ranked[0]])
            if not running:
                if time.time() >= deadline or time.time() >= first_phase_end:
                    break
                continue
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                index = running.pop(future)
                out = future.result()
                record = trials[index]
                record.values += out["values"]
                record.ends += out["ends"]
                record.busy.append((out["start"], out["end"]))
                record.state = out["state"]
                if out["state"] == "stopped" and out["trainer"] is not None:
                    states[index] = out["trainer"]  # one epoch done; may be continued
        wall = time.time() - origin
    for record in trials:
        if record.state == "stopped":
            record.state = "pruned"  # trained one epoch, never continued
    notes = [f"{len(trials)} configurations trained one epoch, {len(continued)} continued"]
    return trials, wall, notes


def _first(record: TrialRecord) -> float:
    value = record.values[0] if record.values else math.nan
    return value if math.isfinite(value) else math.inf


def _one_thread() -> None:
    torch.set_num_threads(1)


def _warm(spec: dict[str, Any]) -> None:
    from service.tuning._objective import load_task_data

    load_task_data(resolve(spec), torch.device("cpu"))


def _train(spec: dict[str, Any], values: dict[str, Any], state: bytes | None, deadline: float,
           origin: float) -> dict[str, Any]:
    """One epoch of a new configuration (``state`` None), or the rest of its epochs from
    ``state``; stops at ``deadline``. Times are seconds from ``origin``."""
    from service.training import EpochResult, Trainer
    from service.tuning._objective import build_model, build_train_config, load_task_data

    started = time.time()
    resolved = resolve(spec)
    hp = resolved.space.resolve(values)
    device = torch.device("cpu")
    data = load_task_data(resolved, device, hp)
    torch.manual_seed(resolved.spec.seed)
    model = build_model(hp, data)
    config = build_train_config(hp, max_epochs=resolved.spec.budget.max_epochs,
                                seed=resolved.spec.seed, device=device)
    trainer = Trainer(model, config, kind=data.kind, device=device,
                      target_scale=data.target_scale)
    if state is not None:
        trainer.load_state_dict(torch.load(io.BytesIO(state), weights_only=True))
    found: list[float] = []
    ends: list[float] = []
    first_only = state is None

    def on_epoch_end(result: EpochResult) -> bool:
        found.append(float(result.val_metrics[resolved.metric_key]))
        ends.append(time.time() - origin)
        return first_only  # a new configuration stops after its first epoch

    interrupted: Callable[[], bool] = lambda: time.time() >= deadline  # noqa: E731
    outcome = trainer.fit(data.train, data.val, on_epoch_end=on_epoch_end,
                          should_interrupt=interrupted)
    saved = None
    if outcome.status == "stopped":
        buffer = io.BytesIO()
        torch.save(trainer.state_dict(), buffer)
        saved = buffer.getvalue()
    states = {"completed": "complete", "stopped": "stopped", "diverged": "failed",
              "interrupted": "running"}
    return {"values": found, "ends": ends, "start": started - origin,
            "end": time.time() - origin, "state": states[outcome.status], "trainer": saved}
