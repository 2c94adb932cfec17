"""Search efficiency: the compute each way of searching needs to reach a target score.

The same task and search space, searched three ways, each with several seeds:

- (a) rnntune's defaults: TPE (``tpe``: 10 random startup trials, multivariate, constant liar),
  the median pruner (``median``: 5 startup trials, 2 warm-up epochs), and the default worker
  pool of ``rnntune serve`` (one one-thread worker process per core), through the REST API;
- (b) random search without pruning, through the same service and worker pool;
- (c) a plain single-process Optuna script with its defaults (``optuna.create_study()``: TPE,
  in memory) and no pruner, over the same objective code, with torch's default threads.

Each run has the same budget of trials and epochs per trial. Compute is counted two ways:
worker-seconds (the sum of trial durations, start to end; for (c) a worker is one process with
torch's default threads) and epochs trained (each trial's per-epoch log). From each run's
trials in order of completion: the compute spent when the best validation score first reached
the target, and the best score within a fixed compute budget (in epochs). Medians over seeds;
the (b)/(a) ratios are taken per seed.

    python bench/search_efficiency.py --seeds 0 1 2 --write-doc
"""

from __future__ import annotations

import argparse
import math
import pickle
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
    GPU_NOTE,
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

SECTION_TITLE = "## Search efficiency: compute to reach a target score"
SETUPS = {
    "a": "(a) rnntune defaults: TPE + median pruner, worker pool",
    "b": "(b) random search, no pruner, worker pool",
    "c": "(c) plain Optuna script: defaults (TPE), no pruner, one process",
}
TARGET_RATIO = 3.0


@dataclass(frozen=True)
class Setup:
    seq_len: int
    n_train: int
    n_val: int
    space: str
    trials: int
    max_epochs: int
    target: float
    budget_epochs: int

    def task(self) -> dict[str, Any]:
        return {"name": "adding", "seq_len": self.seq_len, "n_train": self.n_train,
                "n_val": self.n_val, "n_test": 64}

    def spec(self, setup: str, seed: int) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "task": self.task(),
            "search_space": self.space,
            "objective": {"metric": "val_mse"},
            "budget": {"n_trials": self.trials, "max_epochs": self.max_epochs},
            "seed": 0,  # the data and the training: the same task for every setup and seed
            "evaluation": {"seeds": 1},
        }
        if setup == "a":
            spec["sampler"] = {"name": "tpe", "seed": seed}  # rnntune's default sampler...
            spec["pruner"] = {"name": "median"}  # ... and pruner, with their default options
        else:
            spec["sampler"] = {"name": "random", "seed": seed}
            spec["pruner"] = {"name": "none"}
        return spec


@dataclass
class Result:
    setup: Setup
    runs: dict[str, list[Run]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)

    def reach(self, key: str, target: float | None = None) -> list[tuple[float, float]]:
        goal = self.setup.target if target is None else target
        return [run.to_reach(goal) for run in self.runs.get(key, [])]

    def ratios(self, index: int, target: float | None = None) -> list[tuple[float, bool]]:
        """(b)/(a) compute to target per seed (index 0: worker-seconds, 1: epochs); the flag
        says the ratio is a lower bound ((b) never reached the target: its whole run)."""
        goal = self.setup.target if target is None else target
        out = []
        for run_a, run_b in zip(self.runs.get("a", []), self.runs.get("b", []), strict=False):
            a = run_a.to_reach(goal)[index]
            b = run_b.to_reach(goal)[index]
            if math.isinf(a):
                out.append((math.nan, False))
            elif math.isinf(b):
                total = run_b.worker_seconds if index == 0 else float(run_b.epochs)
                out.append((total / a, True))
            else:
                out.append((b / a, False))
        return out


def _reach_cell(values: Sequence[float], runs: int) -> str:
    reached = [v for v in values if math.isfinite(v)]
    if not reached:
        return f"not reached (0/{runs})"
    text = f"{median(reached):.0f}"
    if len(reached) < runs:
        text += f" ({len(reached)}/{runs} reached)"
    return text


def _ratio_cell(ratios: Sequence[tuple[float, bool]]) -> str:
    parts = [f"{'>=' if bound else ''}{value:.1f}" for value, bound in ratios
             if not math.isnan(value)]
    values = [value for value, _ in ratios if not math.isnan(value)]
    if not values:
        return "- (a) did not reach it" if ratios else "-"
    bound = any(b for _, b in ratios)
    return f"**{'>=' if bound else ''}{median(values):.1f}x** ({', '.join(parts)})"


def table(result: Result) -> str:
    s = result.setup
    lines = [
        f"| setup | runs | worker-s to reach val_mse <= {s.target:g} | epochs to reach it "
        f"| best val_mse within {s.budget_epochs} epochs | best val_mse, whole run "
        "| trials pruned | worker-s, whole run | epochs, whole run | wall time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label in SETUPS.items():
        runs = result.runs.get(key, [])
        if not runs:
            continue
        reach = result.reach(key)
        budget_best = [_best_within_epochs(r, s.budget_epochs) for r in runs]
        pruned = [sum(1 for t in r.finished if t.state.name == "PRUNED") for r in runs]
        lines.append(
            f"| {label} | {len(runs)} | {_reach_cell([x[0] for x in reach], len(runs))} "
            f"| {_reach_cell([x[1] for x in reach], len(runs))} "
            f"| {fmt(median(budget_best), 4)} | {fmt(median([r.best() for r in runs]), 4)} "
            f"| {median([float(p) for p in pruned]):.0f} "
            f"| {median([r.worker_seconds for r in runs]):.0f} "
            f"| {median([float(r.epochs) for r in runs]):.0f} "
            f"| {median([r.wall_s for r in runs]):.0f} |")
    lines += [
        "",
        f"(b) / (a), compute to reach the target, per seed: worker-seconds "
        f"{_ratio_cell(result.ratios(0))}; epochs {_ratio_cell(result.ratios(1))}.",
    ]
    return "\n".join(lines)


def targets_table(result: Result, targets: Sequence[float]) -> str:
    """Epochs to reach each of several targets (the same runs), and the (b)/(a) ratios."""
    present = [key for key in SETUPS if result.runs.get(key)]
    lines = ["| val_mse target | " + " | ".join(f"({k}) epochs to reach it" for k in present)
             + " | (b) / (a), epochs | (b) / (a), worker-seconds |",
             "|---:|" + "---:|" * (len(present) + 2)]
    for target in targets:
        cells = [_reach_cell([x[1] for x in result.reach(k, target)], len(result.runs[k]))
                 for k in present]
        lines.append(f"| {target:g} | " + " | ".join(cells)
                     + f" | {_ratio_cell(result.ratios(1, target))} "
                     f"| {_ratio_cell(result.ratios(0, target))} |")
    return "\n".join(lines)


def per_seed(result: Result) -> str:
    s = result.setup
    lines = ["| seed | setup | worker-s to target | epochs to target | best, whole run "
             "| trials (complete/pruned/fail) |", "|---:|---|---:|---:|---:|---:|"]
    for i, seed in enumerate(result.seeds):
        for key in SETUPS:
            runs = result.runs.get(key, [])
            if i >= len(runs):
                continue
            run = runs[i]
            seconds, epochs = run.to_reach(s.target)
            states = [t.state.name for t in run.finished]
            lines.append(
                f"| {seed} | ({key}) | {fmt(seconds, 0)} | {fmt(epochs, 0)} "
                f"| {fmt(run.best(), 4)} | {states.count('COMPLETE')}/"
                f"{states.count('PRUNED')}/{states.count('FAIL')} |")
    return "\n".join(lines)


def _best_within_epochs(run: Run, epochs: int) -> float:
    best = math.nan
    for _, spent, value in run.progress():
        if spent > epochs:
            break
        best = value
    return best


def section(result: Result, *, command: str, workers: int, loads: tuple[float, float],
            foreign: float, notes: Sequence[str], targets: Sequence[float] = ()) -> str:
    s = result.setup
    ratios = [v for v, _ in result.ratios(1) if not math.isnan(v)]
    ratio = median(ratios) if ratios else math.nan
    verdict = ("met" if ratio >= TARGET_RATIO else "**missed**") if ratios else "not measured"
    lines = header(
        SECTION_TITLE,
        intro=(f"The adding problem with sequences of length {s.seq_len} ({s.n_train} "
               f"training and {s.n_val} validation sequences; data and training seed 0 for "
               f"every run), search space `search_spaces/{s.space}.yaml`, objective "
               f"`val_mse`, {s.trials} trials of at most {s.max_epochs} epochs per run. "
               f"Target: validation MSE <= {s.target:g} (always predicting 1 scores 0.167; "
               f"< 0.01 counts as solved). (a) and (b) are studies POSTed to `rnntune "
               f"serve` with {workers} worker processes (SQLite); (c) is `study.optimize` in "
               f"a fresh Python process with {DEFAULT_THREADS} torch threads. A trial's "
               "compute counts "
               "from when it finished; so does its score. Worker-seconds of (c) are seconds "
               f"of a {DEFAULT_THREADS}-thread process; epochs compare across all three."),
        command=command, facts=machine_facts(),
        conditions=(f"Seeds {', '.join(map(str, result.seeds))} (the sampler's); medians over "
                    f"seeds; load average {loads[0]:.2f} at the start and {loads[1]:.2f} at "
                    f"the end; CPU used by other jobs during the run: {foreign:.0%} of the "
                    "machine."),
    )
    lines += [table(result), "",
              f"Target: (a) reaches the target with at least {TARGET_RATIO:g}x less compute "
              f"than (b): {verdict} (median of the per-seed ratios in epochs: "
              f"{fmt(ratio, 1)}x).", ""]
    others = [t for t in targets if t != s.target]
    if others:
        lines += ["The same runs against other targets (epochs to reach each; medians over the "
                  "seeds that reached it):", "", targets_table(result, sorted(
                      {s.target, *others}, reverse=True)), ""]
    lines += ["Per seed:", "", per_seed(result), "", *notes, GPU_NOTE, ""]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python bench/search_efficiency.py",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--setups", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--seq-len", type=int, default=150)
    parser.add_argument("--n-train", type=int, default=1024)
    parser.add_argument("--n-val", type=int, default=512)
    parser.add_argument("--space", default="lstm-gru",
                        help="a search space of search_spaces/ (default lstm-gru)")
    parser.add_argument("--trials", type=int, default=24, help="trials per run")
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.005,
                        help="validation MSE to reach (default 0.005, 3%% of the baseline)")
    parser.add_argument("--also-targets", type=float, nargs="*",
                        default=[0.01, 0.002, 0.001],
                        help="further targets reported from the same runs")
    parser.add_argument("--save", type=Path, default=None,
                        help="keep the runs in this file (pickle) to write the section again")
    parser.add_argument("--load", type=Path, default=None,
                        help="write the section from runs kept with --save; runs nothing")
    parser.add_argument("--budget-epochs", type=int, default=None,
                        help="compute budget for the best score (default: a third of "
                             "trials x max epochs)")
    parser.add_argument("--workers", type=int, default=cores(),
                        help="worker processes of the service (default: one per core)")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--max-load", type=float, default=1.5)
    parser.add_argument("--max-wait", type=float, default=600.0)
    parser.add_argument("--quick", action="store_true",
                        help="a tiny task, 4 trials of 2 epochs, one seed, no waiting")
    parser.add_argument("--write-doc", action="store_true")
    parser.add_argument("--doc", type=Path, default=DOC_PATH)
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.seq_len, args.n_train, args.n_val = [0], 10, 64, 32
        args.trials, args.max_epochs, args.target = 4, 2, 0.2
    if min(args.trials, args.max_epochs, args.workers) < 1:
        parser.error("--trials, --max-epochs and --workers must be at least 1")
    if args.budget_epochs is None:
        args.budget_epochs = max(1, args.trials * args.max_epochs // 3)
    return args


def main(argv: Sequence[str] | None = None) -> Result:
    args = parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    argv_list = list(sys.argv[1:] if argv is None else argv)
    if args.load is not None:
        with args.load.open("rb") as handle:
            kept = pickle.load(handle)  # our own file, written by --save
        result: Result = kept["result"]
        command, loads, share = kept["command"], kept["loads"], kept["foreign"]
    else:
        result, loads, share = run_all(args)
        command = "python bench/search_efficiency.py " + shlex.join(_reproducing(argv_list))
        if args.save is not None:
            with args.save.open("wb") as handle:
                pickle.dump({"result": result, "command": command, "loads": loads,
                             "foreign": share}, handle)
    notes = [f"- ({key}) {note}" for key, runs in result.runs.items() for r in runs
             for note in r.notes]
    print(table(result))
    print(targets_table(result, sorted({result.setup.target, *args.also_targets},
                                       reverse=True)))
    if args.write_doc:
        write_section(SECTION_TITLE, section(result, command=command.strip(),
                                             workers=args.workers, loads=loads,
                                             foreign=share, notes=notes,
                                             targets=args.also_targets), args.doc)
        print(f"wrote the section to {args.doc}")
    return result


def _reproducing(argv: list[str]) -> list[str]:
    """The arguments that reproduce the runs and write the section (without --save, and
    without --doc: the command shown writes docs/benchmarks.md)."""
    dropped = ("--save", "--doc")
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in dropped:
            skip = True
        elif arg != "--write-doc" and not arg.startswith(tuple(f"{d}=" for d in dropped)):
            out.append(arg)
    return [*out, "--write-doc"]


def run_all(args: argparse.Namespace) -> tuple[Result, tuple[float, float], float]:
    setup = Setup(args.seq_len, args.n_train, args.n_val, args.space, args.trials,
                  args.max_epochs, args.target, args.budget_epochs)
    result = Result(setup, seeds=list(args.seeds))
    start_load = load1() if args.quick else wait_for_quiet(args.max_load, args.max_wait)
    with ForeignCpu() as foreign:
        for i, seed in enumerate(args.seeds):
            order = args.setups[i % len(args.setups):] + args.setups[:i % len(args.setups)]
            for key in order:
                print(f"seed {seed}: setup ({key}) ...", flush=True)
                if key == "c":
                    run = run_script(setup.spec("c", seed), n_trials=setup.trials,
                                     sampler="tpe", seed=seed)
                else:
                    run = run_service(setup.spec(key, seed), workers=args.workers,
                                      timeout_s=args.timeout)
                result.runs.setdefault(key, []).append(run)
                seconds, epochs = run.to_reach(setup.target)
                print(f"  ({key}) {run.n_finished} trials, {run.epochs} epochs, "
                      f"{run.worker_seconds:.0f} worker-s, {run.wall_s:.0f} s wall; best "
                      f"{run.best():.4g}; target reached after {seconds:.0f} worker-s / "
                      f"{epochs:.0f} epochs", flush=True)
    return result, (start_load, load1()), foreign.share


if __name__ == "__main__":
    main()
