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
  torch's default threads (one per core): the comparison the target is about.
- *script, 1 thread*: the same script with one torch thread, to show how much of the 2-thread
  script's speed comes from torch's intra-op threads (the pool's ideal ratio is
  workers x 1-thread rate / script rate).

Repeats rotate the order; the ratio is taken within a repeat, figures are medians. A repeat
during which other jobs used more than ``--max-foreign`` of the machine is discarded and run
again (at most ``--retries`` times), after waiting for a quiet machine.

    python -m bench.throughput --trials 40 --repeats 3 --write-doc
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

from bench._benchmarks_doc import DOC_PATH, fmt, header, write_section
from bench._cpu_use import ForeignCpu
from bench._machine import cores, machine_facts
from bench._quiet import load1, wait_for_quiet
from bench._runs import DEFAULT_THREADS, Run, run_script, run_service
from bench._stats import median

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
    script1: list[Run] = field(default_factory=list)
    foreign: list[float] = field(default_factory=list)  # other jobs' share, per kept repeat
    discarded: list[str] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [s.trials_per_hour / p.trials_per_hour
                for s, p in zip(self.service, self.script, strict=True)]

    @property
    def ratios_one_thread(self) -> list[float]:
        return [s.trials_per_hour / p.trials_per_hour
                for s, p in zip(self.service, self.script1, strict=True)]

    @property
    def thread_speedups(self) -> list[float]:
        """torch's 2-thread speed-up per repeat: 1-thread over n-thread seconds per trial."""
        return [one.worker_seconds / max(1, one.n_finished)
                / (many.worker_seconds / max(1, many.n_finished))
                for one, many in zip(self.script1, self.script, strict=True)]


def table(result: Result) -> str:
    lines = [
        "| how | trials | wall time (s) | trials per hour | s per trial (mean of trial "
        "durations) |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, runs in (
        (f"`rnntune serve`: {result.workers} worker processes x 1 torch thread", result.service),
        (f"plain Optuna script: 1 process x {DEFAULT_THREADS} torch threads (torch's default)",
         result.script),
        ("plain Optuna script: 1 process x 1 torch thread", result.script1),
    ):
        if not runs:
            continue
        lines.append(
            f"| {label} | {median([r.n_finished for r in runs]):.0f} "
            f"| {fmt(median([r.wall_s for r in runs]), 1)} "
            f"| {fmt(median([r.trials_per_hour for r in runs]), 0)} "
            f"| {fmt(median([r.worker_seconds / r.n_finished for r in runs]), 2)} |")
    ratios = result.ratios
    lines += ["", f"Service / script ({DEFAULT_THREADS} torch threads), trials per hour: "
                  f"**{median(ratios):.2f}x** (median; per repeat "
                  f"{', '.join(f'{r:.2f}' for r in ratios)})."]
    if result.script1:
        one = result.ratios_one_thread
        speedups = result.thread_speedups
        lines += ["", f"Service / script (1 torch thread): {median(one):.2f}x (per repeat "
                      f"{', '.join(f'{r:.2f}' for r in one)}). torch's own speed-up of one "
                      f"trial from 1 to {DEFAULT_THREADS} threads: {median(speedups):.2f}x "
                      f"(per repeat {', '.join(f'{r:.2f}' for r in speedups)})."]
    return "\n".join(lines)


def section(result: Result, *, command: str, loads: tuple[float, float], foreign: float,
            notes: Sequence[str], max_foreign: float = 0.1) -> str:
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
               "memory, TPE); once more with one torch thread, to separate the pool's gain "
               "from torch's intra-op threads. All pay a new process's first-trial costs. "
               "Repeats rotate the order; ratios are taken within a repeat; a repeat during "
               "which other jobs used more than "
               f"{max_foreign:.0%} of the machine is discarded and run again."),
        command=command, facts=machine_facts(),
        conditions=(f"{len(result.service)} repeats kept"
                    + (f" ({len(result.discarded)} discarded)" if result.discarded else "")
                    + f"; load average {loads[0]:.2f} at the start and {loads[1]:.2f} at the "
                    f"end; CPU used by other jobs during the kept repeats: "
                    + ", ".join(f"{f:.0%}" for f in result.foreign)
                    + f" of the machine ({foreign:.0%} over the whole run)."),
    )
    lines += [table(result), "", f"Target on 2 cores: at least {TARGET}x: {verdict}.", "",
              *notes, *(f"- discarded: {d}" for d in result.discarded)]
    if result.script1:
        lines += ["", reading(result)]
    return "\n".join(lines) + "\n"


def reading(result: Result) -> str:
    """Where the pool's time goes, and what the target would need, from the medians."""
    wall = median([r.wall_s for r in result.service])
    per_trial = median([r.worker_seconds / r.n_finished for r in result.service])
    alone = median([r.worker_seconds / r.n_finished for r in result.script1])
    busy = result.trials * per_trial / result.workers / wall
    one = median(result.ratios_one_thread)
    needed = one / TARGET
    return (
        f"How to read this: the pool's workers were busy training {busy:.0%} of the wall "
        f"time (trials x mean trial duration / workers / wall time), so claiming, asking "
        f"and telling outside the trials cost about {1 - busy:.0%}. A trial in the pool took "
        f"{per_trial / alone:.2f}x as long as the same trial in a 1-thread script running "
        f"alone ({per_trial:.2f} s against {alone:.2f} s): the machine runs two training "
        f"processes at once more slowly than one (shared caches and memory bandwidth are the "
        f"likely cause). So the pool gives {one:.2f}x the trials per "
        f"hour of one 1-thread process, and its ratio to the default script is that divided "
        f"by torch's speed-up from its second thread ({median(result.thread_speedups):.2f}x "
        f"here, and it varies from run to run). The {TARGET}x target would need that speed-up "
        f"to be at most {needed:.2f}x, that is, torch gaining almost nothing from a second "
        f"thread on this model (an LSTM of 64 units, batch 64, on 2 cores). Of the gap, only "
        f"the time outside trials is ours; the rest is the machine and torch."
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=cores(),
                        help="worker processes (default: one per core, as `rnntune serve`)")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--max-load", type=float, default=1.5)
    parser.add_argument("--max-wait", type=float, default=600.0)
    parser.add_argument("--max-foreign", type=float, default=0.10,
                        help="discard a repeat during which other jobs used more than this "
                             "share of the machine (default 0.10)")
    parser.add_argument("--retries", type=int, default=3,
                        help="discarded repeats run again at most this many times in all")
    parser.add_argument("--no-one-thread", action="store_true",
                        help="skip the 1-thread script")
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
    steps = ["service", "script"] + ([] if args.no_one_thread else ["script1"])
    retries = args.retries
    with ForeignCpu() as foreign:
        repeat = 0
        while repeat < args.repeats:
            print(f"repeat {repeat + 1}/{args.repeats}", flush=True)
            order = steps[repeat % len(steps):] + steps[:repeat % len(steps)]
            runs: dict[str, Run] = {}
            with ForeignCpu() as during:
                for step in order:
                    if step == "service":
                        run = run_service(spec, workers=args.workers, timeout_s=args.timeout)
                    else:
                        run = run_script(spec, n_trials=args.trials, sampler="tpe",
                                         seed=repeat,
                                         threads=1 if step == "script1" else None)
                    runs[step] = run
                    print(f"  {step}: {run.n_finished} trials in {run.wall_s:.1f} s "
                          f"({run.trials_per_hour:.0f}/h)", flush=True)
            share = during.share
            if not args.quick and share > args.max_foreign and retries > 0:
                retries -= 1
                result.discarded.append(
                    f"a repeat during which other jobs used {share:.0%} of the machine (" +
                    ", ".join(f"{k} {r.trials_per_hour:.0f}/h" for k, r in runs.items()) + ")")
                print(f"  discarded: other jobs used {share:.0%} of the machine", flush=True)
                wait_for_quiet(args.max_load, args.max_wait)
                continue
            result.service.append(runs["service"])
            result.script.append(runs["script"])
            if "script1" in runs:
                result.script1.append(runs["script1"])
            result.foreign.append(share)
            repeat += 1
    end_load = load1()
    notes = [f"- {note}" for r in result.service for note in r.notes]
    print(table(result))
    if args.write_doc:
        argv_list = list(sys.argv[1:] if argv is None else argv)
        command = "python -m bench.throughput " + shlex.join(argv_list)
        write_section(SECTION_TITLE, section(result, command=command.strip(),
                                             loads=(start_load, end_load),
                                             foreign=foreign.share, notes=notes,
                                             max_foreign=args.max_foreign), args.doc)
        print(f"wrote the section to {args.doc}")
    return result


if __name__ == "__main__":
    main()
