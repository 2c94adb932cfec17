"""Service cost: a study of a tiny objective through the REST API and workers, against the same
objective in-process with ``study.optimize``.

The objective is rnntune's own (suggest from the space, build the model, train with the
``Trainer``, report each epoch), on a tiny problem so that what is measured is the service
around it: a 2-unit GRU, one epoch over 16 adding-problem sequences of length 2; the random
sampler draws ``lr``; no pruner.

- *service*: ``rnntune serve`` (default worker pool: one process per core) on a fresh SQLite
  file; the study is POSTed once the workers sit idle, and timed from the POST to the end of
  its last trial.
- *in-process*: ``study.optimize(objective, n_trials)`` in a fresh Python process (imports not
  timed) with torch's default threads, with the same sampler; once on an SQLite file (the same
  storage as the service) and once in memory (Optuna's default storage).

Repeats alternate the three; ratios are taken within a repeat, figures are medians.

    python -m bench.service_cost --trials 200 --repeats 3 --write-doc
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from bench._benchmarks_doc import DOC_PATH, fmt, header, write_section
from bench._cpu_use import ForeignCpu
from bench._machine import cores, machine_facts
from bench._quiet import load1, wait_for_quiet
from bench._runs import DEFAULT_THREADS, Run, run_script, run_service
from bench._stats import median

SECTION_TITLE = "## Service cost: a tiny study through the API and workers"
TARGET = 1.15


def tiny_spec(n_trials: int) -> dict[str, Any]:
    return {
        "task": {"name": "adding", "seq_len": 2, "n_train": 16, "n_val": 16, "n_test": 16},
        "search_space": {"params": {
            "cell": "gru", "hidden_size": 2, "batch_size": 16,
            "lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
        }},
        "objective": {"metric": "val_mse"},
        "sampler": {"name": "random", "seed": 0},
        "pruner": {"name": "none"},
        "budget": {"n_trials": n_trials, "max_epochs": 1},
        "evaluation": {"seeds": 1},
    }


@dataclass
class Repeat:
    service: Run
    sqlite: Run
    memory: Run


@dataclass
class Result:
    trials: int
    workers: int
    repeats: list[Repeat] = field(default_factory=list)

    def ratio(self, attr: str) -> float:
        return median([r.service.wall_s / getattr(r, attr).wall_s for r in self.repeats])

    def wall(self, attr: str) -> float:
        return median([getattr(r, attr).wall_s for r in self.repeats])


def one_repeat(n_trials: int, workers: int, timeout_s: float, order: int) -> Repeat:
    spec = tiny_spec(n_trials)
    runs: dict[str, Run] = {}
    steps = ["service", "sqlite", "memory"]
    steps = steps[order % 3:] + steps[:order % 3]
    for step in steps:
        if step == "service":
            runs[step] = run_service(spec, workers=workers, timeout_s=timeout_s)
        elif step == "sqlite":
            with tempfile.TemporaryDirectory(prefix="rnntune-inproc-") as tmp:
                runs[step] = run_script(
                    spec, n_trials=n_trials, storage=f"sqlite:///{Path(tmp) / 'study.db'}",
                    sampler="random", seed=0)
        else:
            runs[step] = run_script(spec, n_trials=n_trials, sampler="random", seed=0)
        run = runs[step]
        print(f"  {step}: {run.n_finished} trials in {run.wall_s:.2f} s", flush=True)
    return Repeat(runs["service"], runs["sqlite"], runs["memory"])


def table(result: Result) -> str:
    lines = [
        "| how | trials | wall time (s) | ms per trial | service / this |",
        "|---|---:|---:|---:|---:|",
    ]
    rows = (
        ("service", f"`rnntune serve`, {result.workers} worker processes, SQLite"),
        ("sqlite", f"`study.optimize` in one process ({DEFAULT_THREADS} torch threads), "
                   "SQLite file"),
        ("memory", f"`study.optimize` in one process ({DEFAULT_THREADS} torch threads), "
                   "in memory"),
    )
    for attr, label in rows:
        wall = result.wall(attr)
        ratio = "-" if attr == "service" else f"**{result.ratio(attr):.2f}x**"
        n = median([getattr(r, attr).n_finished for r in result.repeats])
        lines.append(f"| {label} | {n:.0f} | {fmt(wall)} | {fmt(wall / n * 1000, 1)} "
                     f"| {ratio} |")
    return "\n".join(lines)


def section(result: Result, *, command: str, loads: tuple[float, float], foreign: float,
            notes: Sequence[str]) -> str:
    lines = header(
        SECTION_TITLE,
        intro=(f"A study of {result.trials} trials of a tiny objective (rnntune's objective "
               "code: a 2-unit GRU trained one epoch on 16 adding-problem sequences of "
               "length 2; random sampler over `lr`; no pruner) submitted with `POST "
               "/v1/studies` to `rnntune serve` with its default worker pool, timed from the "
               "POST to the end of the last trial (the workers are up and idle before), "
               "against `study.optimize` over the same objective in a fresh Python process "
               "(as a script runs; imports not timed). Repeats "
               "rotate the order of the three; ratios are taken within a repeat, figures are "
               "medians."),
        command=command, facts=machine_facts(),
        conditions=(f"{len(result.repeats)} repeats; load average {loads[0]:.2f} at the start "
                    f"and {loads[1]:.2f} at the end; CPU used by other jobs during the run: "
                    f"{foreign:.0%} of the machine."),
    )
    lines += [table(result), "", verdict(result), "", *notes]
    return "\n".join(lines) + "\n"


def verdict(result: Result) -> str:
    """The target against both scripts, and where the extra time per trial goes."""
    def per_trial_ms(attr: str) -> float:
        n = median([getattr(r, attr).n_finished for r in result.repeats])
        return result.wall(attr) / n * 1000

    same, memory = result.ratio("sqlite"), result.ratio("memory")
    service_ms, sqlite_ms, memory_ms = (per_trial_ms(a) for a in ("service", "sqlite", "memory"))

    def met(ratio: float) -> str:
        return "met" if ratio <= TARGET else "**missed**"

    return (
        f"Target: at most {TARGET}x the wall time of `study.optimize`. Against the script on "
        f"the same storage (an SQLite file): {same:.2f}x, {met(same)}. Against Optuna's "
        f"default in-memory storage: {memory:.2f}x, {met(memory)}. Per trial the service "
        f"spends {service_ms - memory_ms:.1f} ms more than the in-memory script, and the "
        f"script on an SQLite file alone spends {sqlite_ms - memory_ms:.1f} ms more: the "
        "gap is writing each trial to a database (its start, parameters, per-epoch values "
        "and attributes, and its end, each committed), which the service needs so that "
        "workers in several processes share a study, the API reads it and a crash loses "
        f"nothing; the API and the worker pool add {max(0.0, service_ms - sqlite_ms):.1f} ms "
        "per trial on top of it (two workers overlap their trials' writes). The objective "
        "here takes a few milliseconds, so that fixed cost dominates; for trials "
        "of real size it is a small share (see the throughput benchmark)."
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.service_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=cores(),
                        help="worker processes of the service (default: one per core, as "
                             "`rnntune serve`)")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--max-load", type=float, default=1.5)
    parser.add_argument("--max-wait", type=float, default=600.0)
    parser.add_argument("--quick", action="store_true",
                        help="10 trials, one repeat, no waiting: a smoke test")
    parser.add_argument("--write-doc", action="store_true")
    parser.add_argument("--doc", type=Path, default=DOC_PATH)
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.repeats = 10, 1
    if min(args.trials, args.repeats, args.workers) < 1:
        parser.error("--trials, --repeats and --workers must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> Result:
    args = parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result = Result(args.trials, args.workers)
    start_load = load1() if args.quick else wait_for_quiet(args.max_load, args.max_wait)
    with ForeignCpu() as foreign:
        for repeat in range(args.repeats):
            print(f"repeat {repeat + 1}/{args.repeats}", flush=True)
            result.repeats.append(one_repeat(args.trials, args.workers, args.timeout, repeat))
    end_load = load1()
    notes = [f"- {note}" for r in result.repeats for note in r.service.notes]
    print(table(result))
    if args.write_doc:
        argv_list = list(sys.argv[1:] if argv is None else argv)
        command = "python -m bench.service_cost " + shlex.join(argv_list)
        write_section(SECTION_TITLE, section(result, command=command.strip(),
                                             loads=(start_load, end_load),
                                             foreign=foreign.share, notes=notes), args.doc)
        print(f"wrote the section to {args.doc}")
    return result


if __name__ == "__main__":
    main()
