"""Sampler cost: the time to ask for the next trial as a study grows, for each sampler.

For each sampler of ``service.tuning.SAMPLERS`` and each study size N, a copy of a SQLite
study holding N finished trials gets ASKS new trials exactly as a worker asks for one: the
sampler is rebuilt from the spec for the trial's budget slot (``build_sampler``); the study is
the one the worker kept from its previous trial (mode *kept*: Optuna's cache of the finished
trials then reads only what changed) or is loaded afresh (mode *fresh*: a worker's first trial
of a study); ``study.ask()`` and the search space's ``suggest`` draw the parameters; then the
trial is told a value. One torch thread, as in a worker (the GP sampler computes with torch).

The N trials are made once and copied for every sampler: parameters drawn at random from the
search space (``search_spaces/lstm.yaml``; a stepped variant for the grid sampler), a
synthetic validation score with per-epoch intermediate values and the per-epoch user
attributes a real trial carries, a quarter of them pruned. Random history is enough to show
how the cost grows: a sampler models all of it on every ask.

A sampler is not asked at larger sizes once one ask took longer than ``--give-up-s``.

    python -m bench.sampler_cost --sizes 100 1000 2000 5000 --write-doc
"""

from __future__ import annotations

import argparse
import random
import shlex
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import torch

from bench._benchmarks_doc import DOC_PATH, fmt, header, write_section
from bench._cpu_use import ForeignCpu
from bench._machine import machine_facts
from bench._quiet import load1, wait_for_quiet
from bench._stats import median
from bench._synthetic_trials import add_trials_fast, synthetic_score, synthetic_trials
from service.config import Settings
from service.store import StudyStore
from service.tuning import SAMPLERS, build_sampler, parse_spec_mapping, resolve_spec
from service.tuning._resolve import ResolvedStudy

SECTION_TITLE = "## Sampler cost: asking for the next trial as a study grows"
MAX_EPOCHS = 10
# The grid sampler needs a step on every float; this grid has 8,640 points (> 5,000 trials).
GRID_SPACE: dict[str, Any] = {"params": {
    "cell": "lstm",
    "hidden_size": {"type": "int", "low": 16, "high": 128, "step": 16},
    "num_layers": {"type": "int", "low": 1, "high": 2},
    "forget_bias": {"type": "categorical", "choices": [0.0, 1.0, 2.0]},
    "lr": {"type": "float", "low": 0.0005, "high": 0.03, "step": 0.0005},
    "batch_size": {"type": "categorical", "choices": [32, 64, 128]},
}}


@dataclass
class SamplerResult:
    name: str
    # size -> ask times (s) and tell times (s)
    asks: dict[int, list[float]] = field(default_factory=dict)
    tells: dict[int, list[float]] = field(default_factory=dict)
    stopped_at: int | None = None
    stop_reason: str = ""

    def ms(self, size: int) -> float:
        return median(self.asks.get(size, [])) * 1000.0


def resolved_for(sampler: str) -> ResolvedStudy:
    spec: dict[str, Any] = {
        "task": {"name": "adding", "seq_len": 100},
        "search_space": GRID_SPACE if sampler == "grid" else "lstm",
        "objective": {"metric": "val_mse"},
        "sampler": {"name": sampler, "seed": 0},
        "pruner": {"name": "median"},
        "budget": {"n_trials": 8_000, "max_epochs": MAX_EPOCHS},
    }
    return resolve_spec(parse_spec_mapping(spec), spaces_dir=Settings().search_spaces_dir)


def settings_for(path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{path}", log_level="warning", device="cpu")


def build_histories(folder: Path, sizes: Sequence[int], grid: bool) -> dict[int, Path]:
    """One SQLite file per size: the same study grown to each size, copied at each step."""
    resolved = resolved_for("grid" if grid else "tpe")
    work = folder / ("grid-work.db" if grid else "work.db")
    store = StudyStore(settings_for(work))
    store.initialize()
    optuna.create_study(study_name="bench", storage=store.optuna_storage, direction="minimize")
    store.close()
    have, copies = 0, {}
    for size in sorted(sizes):
        if size > have:
            add_trials_fast(f"sqlite:///{work}", "bench", synthetic_trials(
                resolved.space, size - have, seed=size, max_epochs=MAX_EPOCHS))
            have = size
        copies[size] = folder / f"{'grid' if grid else 'space'}-{size}.db"
        shutil.copy(work, copies[size])
    return copies


def ask_like_a_worker(store: StudyStore, resolved: ResolvedStudy, slot: int,
                      rng: random.Random, study: optuna.Study | None
                      ) -> tuple[float, float, optuna.Study]:
    """Seconds to rebuild the sampler, load the study (or reuse ``study``), ask and suggest;
    seconds to tell; and the study."""
    spec = resolved.spec
    started = time.perf_counter()
    sampler = build_sampler(spec.sampler.name, spec.sampler.options(), seed=spec.sampler.seed,
                            slot=slot, space=resolved.space)
    if study is None:
        study = optuna.load_study(study_name="bench", storage=store.optuna_storage,
                                  sampler=sampler, pruner=optuna.pruners.NopPruner())
    else:
        study.sampler = sampler  # what a worker does with the study it kept
    trial = study.ask()
    params = resolved.space.suggest(trial)
    asked = time.perf_counter()
    study.tell(trial, synthetic_score(params, rng))
    return asked - started, time.perf_counter() - asked, study


def measure(name: str, histories: dict[int, Path], *, mode: str, asks: int,
            give_up_s: float, folder: Path) -> SamplerResult:
    """``mode`` "kept": the worker keeps the study between trials (its cache is warmed by a
    first, untimed ask at each size); "fresh": every ask loads the study afresh."""
    resolved = resolved_for(name)
    result = SamplerResult(name)
    rng = random.Random(0)
    for number, size in enumerate(sorted(histories)):
        path = folder / f"run-{name}-{size}.db"
        shutil.copy(histories[size], path)
        store = StudyStore(settings_for(path))
        try:
            _ = store.optuna_storage  # connects and checks the schema, as a worker at start
            study = None
            if number == 0 or mode == "kept":
                # The first ask of a process imports and builds what it needs; a kept study
                # is loaded once, by the worker's first trial.
                _, _, study = ask_like_a_worker(store, resolved, size, rng, None)
            result.asks[size], result.tells[size] = [], []
            for i in range(asks):
                ask_s, tell_s, kept = ask_like_a_worker(
                    store, resolved, size + 1 + i, rng, study if mode == "kept" else None)
                study = kept
                result.asks[size].append(ask_s)
                result.tells[size].append(tell_s)
                if ask_s > give_up_s:
                    result.stopped_at = size
                    result.stop_reason = f"one ask took {ask_s:.1f} s at {size:,} trials"
                    break
        finally:
            store.close()
            path.unlink(missing_ok=True)
        print(f"{name} ({mode}) at {size}: {result.ms(size):.0f} ms per ask", flush=True)
        if result.stopped_at is not None:
            break
    return result


def table(results: Sequence[SamplerResult], sizes: Sequence[int]) -> str:
    head = ("| sampler | " + " | ".join(f"ask at {s:,} trials (ms)" for s in sizes)
            + " | tell at the largest size (ms) | practical up to |")
    rule = "|---|" + "---:|" * (len(sizes) + 2)
    rows = []
    for r in results:
        cells = []
        for size in sizes:
            if size in r.asks:
                cells.append(fmt(r.ms(size), 0))
            else:
                cells.append("not run")
        largest = max(r.asks)
        tell = median(r.tells[largest]) * 1000.0
        reach = (f"< {r.stopped_at:,} trials ({r.stop_reason})" if r.stopped_at is not None
                 else f"{largest:,}+ trials")
        rows.append(f"| `{r.name}` | " + " | ".join(cells) + f" | {fmt(tell, 0)} | {reach} |")
    return "\n".join([head, rule, *rows])


MODES = {
    "kept": "as a worker asks: the study (and Optuna's cache of its finished trials) kept from "
            "the worker's previous trial, the sampler rebuilt",
    "fresh": "with the study loaded afresh for every trial (a worker's first trial of a "
             "study; every trial before workers kept their study)",
}


def section(results: dict[str, list[SamplerResult]], sizes: Sequence[int], *, command: str,
            asks: int, give_up_s: float, loads: tuple[float, float], foreign: float) -> str:
    lines = header(
        SECTION_TITLE,
        intro=("Time for a worker to get the next trial's parameters in a study of N finished "
               "trials, for every sampler: rebuild the sampler from the spec for the trial's "
               "budget slot, get the study, `ask`, and draw the parameters of "
               "`search_spaces/lstm.yaml` (a stepped variant with 8,640 points for `grid`); "
               "medians of the asks at each size. The N trials are random configurations "
               "with a synthetic score, 10 per-epoch intermediate values and per-epoch user "
               "attributes (a quarter pruned), on SQLite; the same history for every "
               f"sampler. A sampler is not asked at larger sizes once one ask took over "
               f"{give_up_s:g} s."),
        command=command, facts=machine_facts(),
        conditions=(f"One torch thread (as in a worker), {asks} asks per sampler and size; "
                    f"load average {loads[0]:.2f} at the start and {loads[1]:.2f} at the end; "
                    f"CPU used by other jobs during the run: {foreign:.0%} of the machine."),
    )
    for mode, label in MODES.items():
        if mode in results:
            lines += [f"**{mode.capitalize()}**: {label}.", "", table(results[mode], sizes), ""]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.sampler_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS),
                        choices=list(SAMPLERS))
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 2000, 5000])
    parser.add_argument("--asks", type=int, default=5, help="asks per sampler and size")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES),
                        help="kept: the study kept between trials, as workers do; fresh: "
                             "loaded for every trial")
    parser.add_argument("--give-up-s", type=float, default=2.0,
                        help="stop a sampler once one ask takes longer (default 2 s)")
    parser.add_argument("--max-load", type=float, default=1.5)
    parser.add_argument("--max-wait", type=float, default=600.0)
    parser.add_argument("--quick", action="store_true",
                        help="sizes 10 and 30, 2 asks, no waiting: a smoke test")
    parser.add_argument("--write-doc", action="store_true")
    parser.add_argument("--doc", type=Path, default=DOC_PATH)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.asks = [10, 30], 2
    if min(args.sizes) < 1 or args.asks < 1:
        parser.error("--sizes and --asks must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, list[SamplerResult]]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # A worker runs each trial in study.optimize; asking directly warns about heartbeats.
    warnings.filterwarnings("ignore", message="Heartbeat of storage")
    sizes = sorted(set(args.sizes))
    results: dict[str, list[SamplerResult]] = {mode: [] for mode in args.modes}
    with tempfile.TemporaryDirectory(prefix="rnntune-sampler-") as tmp:
        folder = Path(tmp)
        print(f"building histories of {sizes} trials ...", flush=True)
        histories = build_histories(folder, sizes, grid=False)
        grid_histories = (build_histories(folder, sizes, grid=True)
                          if "grid" in args.samplers else {})
        start_load = load1() if args.quick else wait_for_quiet(args.max_load, args.max_wait)
        with ForeignCpu() as foreign:
            for mode in args.modes:
                for name in args.samplers:
                    results[mode].append(measure(
                        name, grid_histories if name == "grid" else histories, mode=mode,
                        asks=args.asks, give_up_s=args.give_up_s, folder=folder))
        end_load = load1()
    for mode in args.modes:
        print(f"{mode}:")
        print(table(results[mode], sizes))
    if args.write_doc:
        argv_list = list(sys.argv[1:] if argv is None else argv)
        command = "python -m bench.sampler_cost " + shlex.join(argv_list)
        write_section(SECTION_TITLE, section(
            results, sizes, command=command.strip(), asks=args.asks,
            give_up_s=args.give_up_s, loads=(start_load, end_load),
            foreign=foreign.share), args.doc)
        print(f"wrote the section to {args.doc}")
    return results


if __name__ == "__main__":
    main()
