"""Throughput: finished trials per hour of the default ``rnntune serve`` worker pool against a
plain single-process Optuna script, same objective, same machine.

The objective is rnntune's own (suggest, build the model, train with the ``Trainer``, report
each epoch) with one configuration of the DESIGN §4 reference model, so every trial does the
same work: an LSTM with 64 units, Adam, batch 64, on the adding problem with sequences of
length 50; the sampler draws only ``lr`` (log-uniform in [1e-3, 1e-2]); no pruner.

- *service*: ``rnntune serve`` with its default pool (one worker process per core, one torch
  thread each) on a fresh SQLite file, TPE (rnntune's default sampler); the study is POSTed
  once the workers sit idle, and timed from the POST to the end of its last trial.
- *script*: ``optuna.create_study()`` (in memory, TPE: Optuna's defaults) and
  ``study.optimize(objective, n_trials)`` in a fresh Python process (imports not timed) with
  torch's default threads.

Repeats alternate which goes first; the ratio is taken within a repeat, figures are medians.

    python bench/throughput.py --trials 40 --repeats 3 --write-doc
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    DOC_PATH,
    ForeignCpu,
    cores,
    fmt,
    header,
    load1,
    machine_facts,
    median,
    wait_for_quiet,
    write_section,
)
from _runs import DEFAULT_THREADS, Run, run_script, run_service

SECTION_TITLE = "## Throughput: the worker pool against a plain Optuna script"
TARGET = 1.7


def spec_for(n_trials: int, *, quick: bool = False) -> dict[str, Any]:
    task = ({"name": "adding", "seq_len": 10, "n_train": 128, "n_val": 64, "n_test": 16}
            if quick else
            {"name": "adding", "seq_len": 50, "n_train": 4096, "n_val": 512, "n_test": 16})
    return {
        "task": task,
        "search_space": {"params": {
            "cell": "lstm", "hidden_size": 8 if quick else 64, "batch_size": 64,
            "lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
        }},
        "objective": {"metric": "val_mse"},
        "sampler": {"name": "tpe", "seed": 0},
        "pruner": {"name": "none"},
        "budget": {"n_trials": n_trials, "max_epochs": 2},
        "evaluation": {"seeds": 1},
    }


@dataclass
class Result:
    trials: int
    workers: int
    epochs: int
    service: list[Run] = field(default_factory=list)
    script: list[Run] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [s.trials_per_hour / p.trials_per_hour
                for s, p in zip(self.service, self.script, strict=True)]


def table(result: Result) -> str:
    lines = [
        "| how | trials | wall time (s) | trials per hour | s per trial (mean of trial "
        "durations) |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, runs in (
        (f"`rnntune serve`: {result.workers} worker processes x 1 torch thread", result.service),
        (f"plain Optuna script: 1 process x {DEFAULT_THREADS} torch threads", result.script),
    ):
        lines.append(
            f"| {label} | {median([r.n_finished for r in runs]):.0f} "
            f"| {fmt(median([r.wall_s for r in runs]), 1)} "
            f"| {fmt(median([r.trials_per_hour for r in runs]), 0)} "
            f"| {fmt(median([r.worker_seconds / r.n_finished for r in runs]), 2)} |")
    ratios = result.ratios
    lines += ["", f"Service / script, trials per hour: **{median(ratios):.2f}x** (median; "
                  f"per repeat {', '.join(f'{r:.2f}' for r in ratios)})."]
    return "\n".join(lines)


def section(result: Result, *, command: str, loads: tuple[float, float], foreign: float,
            notes: Sequence[str]) -> str:
    ratio = median(result.ratios)
    verdict = "met" if ratio >= TARGET else "**missed**"
    lines = header(
        SECTION_TITLE,
        intro=(f"{result.trials} trials of one objective both ways: rnntune's objective code "
               "with the DESIGN §4 reference model (LSTM, 64 units, Adam, batch 64, adding "
               f"problem T=50, 4,096 training and 512 validation sequences, {result.epochs} "
               "epochs; only `lr` is sampled, so every trial does the same work; no pruner). "
               "*Service*: a study POSTed to `rnntune serve` with its default worker pool "
               "(SQLite, TPE), timed from the POST to the end of its last trial, the workers "
               "idle before. *Script*: `optuna.create_study()` and `study.optimize` in a fresh "
               "Python process (imports not timed) with Optuna's and torch's defaults (in "
               "memory, TPE). Both pay a new process's first-trial costs. Repeats "
               "alternate which goes first; ratios are taken within a repeat."),
        command=command, facts=machine_facts(),
        conditions=(f"{len(result.service)} repeats; load average {loads[0]:.2f} at the start "
                    f"and {loads[1]:.2f} at the end; CPU used by other jobs during the run: "
                    f"{foreign:.0%} of the machine."),
    )
    lines += [table(result), "", f"Target on 2 cores: at least {TARGET}x: {verdict}.", "",
              *notes]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python bench/throughput.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=cores(),
                        help="worker processes (default: one per core, as `rnntune serve`)")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--max-load", type=float, default=1.5)
    parser.add_argument("--max-wait", type=float, default=600.0)
    parser.add_argument("--quick", action="store_true",
                        help="4 trials of a tiny model, one repeat, no waiting: a smoke test")
    parser.add_argument("--write-doc", action="store_true")
    parser.add_argument("--doc", type=Path, default=DOC_PATH)
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.repeats = 4, 1
    if min(args.trials, args.repeats, args.workers) < 1:
        parser.error("--trials, --repeats and --workers must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> Result:
    args = parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = spec_for(args.trials, quick=args.quick)
    result = Result(args.trials, args.workers, spec["budget"]["max_epochs"])
    start_load = load1() if args.quick else wait_for_quiet(args.max_load, args.max_wait)
    with ForeignCpu() as foreign:
        for repeat in range(args.repeats):
            print(f"repeat {repeat + 1}/{args.repeats}", flush=True)
            for step in (("service", "script") if repeat % 2 == 0 else ("script", "service")):
                if step == "service":
                    run = run_service(spec, workers=args.workers, timeout_s=args.timeout)
                    result.service.append(run)
                else:
                    run = run_script(spec, n_trials=args.trials, sampler="tpe", seed=repeat)
                    result.script.append(run)
                print(f"  {step}: {run.n_finished} trials in {run.wall_s:.1f} s "
                      f"({run.trials_per_hour:.0f}/h)", flush=True)
    end_load = load1()
    notes = [f"- {note}" for r in result.service for note in r.notes]
    print(table(result))
    if args.write_doc:
        argv_list = list(sys.argv[1:] if argv is None else argv)
        command = "python bench/throughput.py " + shlex.join(argv_list)
        write_section(SECTION_TITLE, section(result, command=command.strip(),
                                             loads=(start_load, end_load),
                                             foreign=foreign.share, notes=notes), args.doc)
        print(f"wrote the section to {args.doc}")
    return result


if __name__ == "__main__":
    main()
