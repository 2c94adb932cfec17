"""Search efficiency, head to head: the compute each way of tuning an RNN spends to reach a
validation score, within the same wall-clock budget on the same cores.

Setups, each on the same task data, the same 6-parameter search space (``SPACE``) and the same
maximum epochs per trial, each trial trained by rnntune's own code (the space's ``suggest``,
the model, the ``Trainer``):

1. rnntune's default: the study spec with the sampler's name and options and ``pruner`` left
   out (whatever the default is; only the sampler's seed is set, to the run's seed), POSTed to
   ``rnntune serve`` with one worker process per core;
2. random search without pruning, through the same service (``sampler: {name: random}``,
   ``pruner: {name: none}``): the reference for "x-fold less compute";
3. a plain Optuna script: TPE + ``HyperbandPruner(min_resource=1, max_resource=max_epochs)``,
   ``study.optimize`` in one process per core sharing a journal file;
4. Ray Tune's ``ASHAScheduler`` (random search, as many concurrent trials as cores); needs
   ``ray[tune]`` (``bench/requirements.txt``) and is left out when it is missing;
5. the one-epoch baseline: random configurations trained one epoch each for the first half
   of the budget, then the best of them continued to the full epochs, best first.

Tasks: the adding problem (T=100, 8,192 training sequences, ``val_mse``), JapaneseVowels
(``val_loss``) and copy memory with a long delay (``val_loss``). Every finished run is saved
as one JSON file under ``--results`` and skipped when the script runs again; ``--load`` writes
the section of ``docs/benchmarks.md`` and the anytime plot from the saved runs alone.

    python -m bench.search_efficiency --budget 120 --write-doc
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from bench import _search_report as report
from bench._anytime import RunRecord, TrialRecord
from bench._benchmarks_doc import DOC_PATH, GPU_NOTE, header, write_section
from bench._concurrency import concurrent_pairs
from bench._cpu_use import ForeignCpu
from bench._machine import cores, machine_facts
from bench._quiet import load1, wait_for_quiet

ROOT = Path(__file__).resolve().parent.parent
SECTION_TITLE = "## Search efficiency: compute to reach a target score"
RESULTS = ROOT / "bench" / "results" / "search_efficiency"
FIGURE_NAME = "search_efficiency.png"

# One space for every setup and task: the cell and the five settings that matter most.
SPACE: dict[str, Any] = {"params": {
    "cell": {"type": "categorical", "choices": ["rnn", "lstm", "gru"]},
    "hidden_size": {"type": "int", "low": 16, "high": 128, "log": True},
    "num_layers": {"type": "int", "low": 1, "high": 2},
    "lr": {"type": "float", "low": 1.0e-4, "high": 1.0e-1, "log": True},
    "batch_size": {"type": "categorical", "choices": [32, 64, 128]},
    "grad_clip": {"type": "float", "low": 0.25, "high": 10.0, "log": True},
}}

SETUPS = {
    "default": "1. rnntune default",
    "random": "2. random search, no pruning",
    "optuna": "3. Optuna TPE + Hyperband",
    "ray": "4. Ray Tune ASHA",
    "one-epoch": "5. one-epoch baseline",
}
PEERS = ("optuna", "ray", "one-epoch")
# Seconds a run costs beside its budget (starting the service, Ray, the processes), for the
# estimate printed before starting.
START_UP_S = {"default": 25, "random": 25, "optuna": 15, "ray": 35, "one-epoch": 10}
RANDOM_FACTOR, PEER_FACTOR, PEER_AIM = 3.0, 1.5, 2.0


@dataclass(frozen=True)
class TaskDef:
    """A task of the benchmark: its spec, objective, targets (from "solved" down) and the
    seeds run by default."""

    task: dict[str, Any]
    metric: str
    max_epochs: int
    targets: tuple[float, ...]
    seeds: tuple[int, ...]
    about: str


TASKS = {
    "adding": TaskDef(
        {"name": "adding", "seq_len": 100, "n_train": 8192, "n_val": 1024, "n_test": 64},
        "val_mse", 10, (0.01, 0.003, 0.001, 3e-4, 1e-4, 3e-5, 1e-5), (0, 1, 2, 3, 4),
        "the adding problem, T=100, 8,192 training and 1,024 validation sequences; always "
        "predicting 1 scores 0.167, below 0.01 counts as solved"),
    "japanese_vowels": TaskDef(
        {"name": "japanese_vowels"}, "val_loss", 30,
        (0.5, 0.3, 0.2, 0.15, 0.1, 0.07, 0.05, 0.03), (0, 1, 2),
        "UEA JapaneseVowels, 9 speakers, 216 training and 54 validation utterances; guessing "
        "scores ln 9 = 2.20"),
    "copy_memory": TaskDef(
        {"name": "copy_memory", "delay": 30, "n_train": 4096, "n_val": 512, "n_test": 64},
        "val_loss", 20, (1.5, 1.0, 0.5, 0.1, 0.03, 0.01), (0, 1, 2),
        "copy memory, 3 of 8 symbols recalled after a delay of 30 steps, 4,096 training "
        "sequences; without memory the loss is ln 8 = 2.08 (1.5: the plateau left; at this "
        "delay a GRU of 64 units with lr 0.003 learned nothing in 10 epochs, an LSTM of 64 "
        "with lr 0.01 reached 1.28)"),
}
QUICK_TASKS = {
    "adding": TaskDef({"name": "adding", "seq_len": 10, "n_train": 128, "n_val": 64,
                       "n_test": 16}, "val_mse", 3, (0.15, 0.1, 0.05, 0.01), (0,), "tiny"),
    "copy_memory": TaskDef({"name": "copy_memory", "delay": 3, "n_train": 128, "n_val": 32,
                            "n_test": 16}, "val_loss", 3, (2.0, 1.5, 1.0), (0,), "tiny"),
}


def ray_available() -> bool:
    return importlib.util.find_spec("ray") is not None


# -- one run ---------------------------------------------------------------------------------


def study_spec(task: TaskDef, *, seed: int, max_epochs: int) -> dict[str, Any]:
    """What every setup searches: the task, the space, the objective, the epochs per trial;
    ``seed`` is the data and training seed (the same for every setup)."""
    return {"task": dict(task.task), "search_space": SPACE,
            "objective": {"metric": task.metric},
            "budget": {"max_epochs": max_epochs}, "seed": seed}


def service_spec(spec: dict[str, Any], setup: str, *, name: str, seed: int, budget_s: float,
                 n_trials: int, default_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The study POSTed for setup 1 or 2. The default leaves the sampler's name and options,
    ``pruner`` and ``warm_start`` out, so it measures whatever rnntune's default is
    (``default_extra``: keys set on it, to measure a variant); random search names the random
    sampler, no pruner and no warm start. Both seed their sampler with the run's seed: the
    default sampler's random start-up then draws the configurations random search draws in
    the same seed, so the two (and two variants of the default) differ by what they do with
    those draws, not by luck."""
    out = {**spec, "name": name, "evaluation": {"seeds": 1},
           "budget": {**spec["budget"], "n_trials": n_trials, "timeout_s": budget_s}}
    if setup == "default":
        out.update(default_extra or {})
        out["sampler"] = {"seed": seed, **out.get("sampler", {})}
    if setup == "random":
        # Pure random search, stated in full (no warm start either), so that it stays the
        # reference the others are measured by whatever the defaults become.
        out["sampler"] = {"name": "random", "seed": seed}
        out["pruner"] = {"name": "none"}
        out["warm_start"] = None
    return out


def run_config(task: TaskDef, setup: str, args: argparse.Namespace) -> dict[str, Any]:
    """What a saved run must match to be reused."""
    config = {"task": task.task, "metric": task.metric, "space": SPACE,
              "max_epochs": args.max_epochs or task.max_epochs, "budget_s": args.budget,
              "workers": args.workers}
    if setup in ("default", "random"):
        config["service_trials"] = args.service_trials
    if setup == "default":
        config["sampler_seed"] = "the run's seed"
    if setup == "default" and args.default_spec:
        config["default_spec"] = args.default_spec
    if setup == "one-epoch":
        config["one_epoch_share"] = args.one_epoch_share
    return config


def run_one(name: str, task: TaskDef, setup: str, seed: int,
            args: argparse.Namespace) -> RunRecord:
    from bench._setups import resolve, run_one_epoch, run_optuna_hyperband, run_service

    config = run_config(task, setup, args)
    spec = study_spec(task, seed=seed, max_epochs=config["max_epochs"])
    direction = resolve(spec).direction
    budget = float(args.budget)
    load_start = wait_for_quiet(args.max_load, args.max_wait) if args.max_load else load1()
    timing = "interpolated"
    with ForeignCpu() as foreign:
        if setup in ("default", "random"):
            trials, wall, notes = run_service(
                service_spec(spec, setup, name=f"bench-{setup}-{name}-{seed}", seed=seed,
                             budget_s=budget, n_trials=args.service_trials,
                             default_extra=args.default_spec),
                budget_s=budget, workers=args.workers)
        elif setup == "optuna":
            trials, wall, notes = run_optuna_hyperband(spec, budget_s=budget,
                                                       processes=args.workers, seed=seed)
        elif setup == "one-epoch":
            trials, wall, notes = run_one_epoch(spec, budget_s=budget, processes=args.workers,
                                                seed=seed, share=args.one_epoch_share)
            timing = "measured"
        else:
            trials, wall, notes = run_ray(spec, direction=direction, budget_s=budget,
                                          workers=args.workers, seed=seed)
            timing = "measured"
    return RunRecord(task=name, setup=setup, seed=seed, config=config, direction=direction,
                     budget_s=budget, wall_s=wall, trials=trials, timing=timing,
                     load=(load_start, load1()), foreign=foreign.share,
                     facts=machine_facts(), notes=notes)


def run_ray(spec: dict[str, Any], *, direction: str, budget_s: float, workers: int,
            seed: int) -> tuple[list[TrialRecord], float, list[str]]:
    """Setup 4 in its own Python process (``python -m bench._ray_asha``)."""
    with tempfile.TemporaryDirectory(prefix="rnntune-bench-") as tmp:
        request, result, log = (Path(tmp) / n for n in ("request.json", "result.json",
                                                         "ray.log"))
        request.write_text(json.dumps({"spec": spec, "budget_s": budget_s, "workers": workers,
                                       "seed": seed, "direction": direction}))
        with log.open("wb") as sink:
            done = subprocess.run([sys.executable, "-m", "bench._ray_asha", str(request),
                                   str(result)], stdout=sink, stderr=sink,
                                  cwd=ROOT, timeout=budget_s + 600, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"Ray Tune run failed ({done.returncode}):\n"
                               + log.read_text()[-3000:])
        raw = json.loads(result.read_text())
    trials = [TrialRecord(**{**t, "busy": [tuple(b) for b in t["busy"]]})
              for t in raw["trials"]]
    return trials, float(raw["wall_s"]), list(raw["notes"])


# -- the whole set ----------------------------------------------------------------------------


def run_path(results: Path, name: str, setup: str, seed: int) -> Path:
    return results / name / setup / f"seed-{seed}.json"


def plan(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    """(task, setup, seed) of every run, seeds outermost; the setups' order turns with the
    seed so that no setup always runs first."""
    out = []
    longest = max(len(args.seeds[n]) for n in args.tasks)
    for i in range(longest):
        for name in args.tasks:
            if i >= len(args.seeds[name]):
                continue
            k = i % len(args.setups)
            for setup in args.setups[k:] + args.setups[:k]:
                out.append((name, setup, args.seeds[name][i]))
    return out


def saved_run(path: Path, config: dict[str, Any]) -> RunRecord | None:
    if not path.exists():
        return None
    run = RunRecord.read(path)
    if json.loads(json.dumps(run.config)) != json.loads(json.dumps(config)):
        raise SystemExit(f"{path} was run with other settings ({run.config}); choose another "
                         "--results folder or remove it")
    return run


def estimate_s(todo: Sequence[tuple[str, str, int]], budget: float) -> float:
    return sum(budget + START_UP_S[setup] for _, setup, _ in todo)


def run_all(args: argparse.Namespace, tasks: dict[str, TaskDef]) -> None:
    runs = plan(args)
    todo = [r for r in runs if saved_run(run_path(args.results, *r),
                                         run_config(tasks[r[0]], r[1], args)) is None]
    seconds = estimate_s(todo, args.budget)
    print(f"{len(runs)} runs, {len(runs) - len(todo)} already saved in {args.results}; "
          f"{len(todo)} to run: about {seconds / 60:.0f} min ({args.budget:g} s each plus "
          "start-up)", flush=True)
    if args.estimate:
        return
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "command.txt").write_text(args.command + "\n")
    for n, (name, setup, seed) in enumerate(todo, 1):
        print(f"[{n}/{len(todo)}] {name}, {SETUPS[setup]}, seed {seed} ...", flush=True)
        run = run_one(name, tasks[name], setup, seed, args)
        run.save(run_path(args.results, name, setup, seed))
        epochs, seconds_spent = run.spent()
        print(f"  {len(run.trials)} trials, {epochs:.0f} epochs, {seconds_spent:.0f} worker-s; "
              f"best {run.best():.4g}; load {run.load[0]:.2f} -> {run.load[1]:.2f}", flush=True)


def runs_in(folder: Path) -> list[RunRecord]:
    """The runs saved in one setup's ``folder`` (one file per seed), in seed order."""
    paths = sorted(folder.glob("seed-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    return [RunRecord.read(p) for p in paths]


def load_runs(args: argparse.Namespace) -> dict[str, dict[str, list[RunRecord]]]:
    """Every saved run of the chosen tasks and setups, in seed order."""
    out: dict[str, dict[str, list[RunRecord]]] = {}
    for name in args.tasks:
        for setup in SETUPS:
            found = runs_in(args.results / name / setup)
            if found:
                out.setdefault(name, {})[setup] = found
    return out


# -- the page ------------------------------------------------------------------------------


def task_part(name: str, task: TaskDef, runs: report.Runs) -> tuple[list[str], list[str]]:
    """The task's tables, and its verdict lines."""
    targets = report.ladder(runs, task.targets)
    about = task.about[:1].upper() + task.about[1:]
    lines = [f"### {name}", "", f"{about}; objective `{task.metric}`, at most "
             f"{_one(runs, 'max_epochs')} epochs per trial, {_one(runs, 'budget_s'):g} s of "
             "wall time per run.", "",
             "Compute spent before the best score first reached each target (median over "
             "seeds of epochs / worker-seconds, and how many seeds reached it; >=: not "
             "reached within the budget in the median seed, the whole run's compute):", "",
             report.reach_table(runs, SETUPS, targets, task.metric), "",
             "How many times more compute than the default each setup needed (median of the "
             "per-seed ratios; >=: the other setup never reached the target in that seed, so "
             "the ratio is a lower bound; <=: the default never did):", "",
             report.ratio_table(runs, SETUPS, PEERS, targets, task.metric), "",
             "Each run as a whole:", "", report.summary_table(runs, SETUPS), ""]
    verdicts = []
    if runs.get("default"):
        if name == "adding" and runs.get("random"):
            figures = [(t, report.median_ratio(runs, "random", t)) for t in targets]
            text = ", ".join(f"{t:g}: {_times(f)}{report.verdict(f, RANDOM_FACTOR)}"
                             for t, f in figures)
            verdicts.append(f"- {name}: at least {RANDOM_FACTOR:g}x less compute (epochs) "
                            f"than random search at every target: {text}.")
        cells: list[str] = []
        for t in targets:
            best = report.best_peer(runs, PEERS, t)
            if best is not None:
                aim = " (aim 2x: met)" if best[1].value >= PEER_AIM and best[1].mark != "<=" \
                    else ""
                cells.append(f"{t:g}: {best[1].text(1)}x against {SETUPS[best[0]]} "
                             f"{report.verdict(best[1], PEER_FACTOR)}{aim}")
        if cells:
            verdicts.append(f"- {name}: at least {PEER_FACTOR:g}x less compute (epochs) than "
                            f"the best of setups 3-5: {'; '.join(cells)}.")
        if runs.get("random"):
            stalled = report.stalls(runs, targets)
            reached = sum(1 for r in runs["random"] for t in targets
                          if r.to_reach(t) is not None)
            text = "**missed**: " + ", ".join(f"seed {s} at {t:g}" for s, t in stalled)
            if not stalled:
                text = (f"none in {reached} (seed, target) pairs random search reached: met"
                        if reached else "not tested: random search reached no target")
            verdicts.append(f"- {name}: no seed stalls (the default reaches every target "
                            f"random search reaches, per seed): {text}.")
    return lines, verdicts


def _times(figure: report.Bounded) -> str:
    return "" if math.isnan(figure.value) else f"{figure.text(1)}x "


def _one(runs: report.Runs, key: str) -> Any:
    values = {r.config[key] for rs in runs.values() for r in rs}
    return values.pop() if len(values) == 1 else "/".join(map(str, sorted(values)))


def section(all_runs: dict[str, dict[str, list[RunRecord]]], tasks: dict[str, TaskDef], *,
            command: str, figure: str | None) -> str:
    every = [r for rs in all_runs.values() for runs in rs.values() for r in runs]
    loads = [x for r in every for x in r.load if not math.isnan(x)]
    foreign = [r.foreign for r in every if not math.isnan(r.foreign)]
    seeds = "; ".join(
        f"{name}: {', '.join(map(str, sorted({r.seed for x in rs.values() for r in x})))}"
        for name, rs in all_runs.items())
    workers = _one(all_runs[next(iter(all_runs))], "workers")
    space = ", ".join(f"{k} {_describe(v)}" for k, v in SPACE["params"].items())
    facts = every[0].facts if every else machine_facts()
    shares = sorted({r.config["one_epoch_share"] for r in every if "one_epoch_share" in r.config})
    share = "/".join(f"{x:.0%}" for x in shares) or "half"
    commits = sorted({r.facts.split("rnntune at ", 1)[-1].split(";")[0] for r in every})
    intro = (
        "The same tuning problem solved five ways, each with the same wall-clock budget on "
        f"the same {workers} cores, the same search space ({space}), the same task data and "
        "training seed per seed, and the same maximum epochs per trial: (1) rnntune's "
        "default study, the spec with the sampler's name and options and `pruner` left out "
        "(only the sampler's seed set, to the run's seed, as random search's is: the "
        "default's random start-up draws the configurations random search draws), POSTed to "
        f"`rnntune serve` with {workers} worker processes; (2) random search without pruning "
        "through the same service; (3) a plain Optuna script, TPE + `HyperbandPruner("
        f"min_resource=1, max_resource=max_epochs)`, `study.optimize` in {workers} "
        "processes sharing a journal file; (4) Ray Tune's `ASHAScheduler` (random search, "
        f"{workers} concurrent trials); (5) the one-epoch baseline, random configurations "
        f"trained one epoch each for the first {share} of the budget, then the best continued "
        "to the full epochs, best first. Every trial is trained by rnntune's model and "
        "`Trainer`, one torch thread per worker. The best score is the best validation value "
        "any trial reported "
        "at any epoch; compute is counted up to that moment over the whole search: epochs "
        "finished and worker-seconds (time trials held a worker). Epoch end times of setups "
        "1-3 are interpolated within each trial (Optuna stores no per-epoch time); setups 4 "
        "and 5 measure them.")
    lines = header(SECTION_TITLE, intro=intro, command=command, facts=facts, conditions=(
        f"Seeds: {seeds}. Code measured: {', '.join(commits)}. Load average seen at the "
        f"starts and ends of runs: {min(loads, default=math.nan):.2f} to "
        f"{max(loads, default=math.nan):.2f}; CPU used by other jobs during a run: "
        f"{min(foreign, default=math.nan):.0%} to {max(foreign, default=math.nan):.0%} of the "
        "machine."))
    if max(foreign, default=0.0) > 0.25:
        lines += [f"Other jobs used up to {max(foreign):.0%} of the machine during these runs, "
                  "so every setup got far less CPU than its budget: these figures show that the "
                  "benchmark runs, they do not rank the setups.", ""]
    if figure:
        lines += [f"![Best score so far against worker-seconds, median and range over seeds, "
                  f"per setup and task]({figure})", ""]
    parts, verdicts = [], []
    for name, runs in all_runs.items():
        body, checks = task_part(name, tasks[name], runs)
        parts += body
        verdicts += checks
    lines += ["Against the targets (median of per-seed ratios in epochs; a bound decides only "
              "on its own side):", "", *(verdicts or ["- no run of the default yet"]), "",
              *parts]
    lines += duplicates_part(all_runs)
    notes = [f"- {r.task}, {SETUPS[r.setup]}, seed {r.seed}: {note}" for r in every
             for note in r.notes]
    if notes:
        lines += ["Notes from the runs:", "", *notes, ""]
    lines += [GPU_NOTE, ""]
    return "\n".join(lines)


def duplicates_part(all_runs: dict[str, dict[str, list[RunRecord]]]) -> list[str]:
    """Pairs of trials trained at the same time, and how many were near duplicates."""
    lines = ["Parallel workers and duplicated effort: pairs of trials that held workers at the "
             "same time, and how many of them were near duplicates (every categorical equal, "
             "every numeric parameter within 5% of its (log) range):", "",
             "| task | setup | concurrent pairs | near duplicates |", "|---|---|---:|---:|"]
    for name, rs in all_runs.items():
        for setup, runs in rs.items():
            counts = [concurrent_pairs(run, SPACE) for run in runs]
            pairs, near = sum(c[0] for c in counts), sum(c[1] for c in counts)
            if pairs:
                lines.append(f"| {name} | {SETUPS[setup]} | {pairs} | {near} "
                             f"({near / pairs:.0%}) |")
    return [*lines, ""]


def _describe(param: Any) -> str:
    if param["type"] == "categorical":
        return "{" + ", ".join(map(str, param["choices"])) + "}"
    scale = " log" if param.get("log") else ""
    return f"{param['low']:g}-{param['high']:g}{scale}"


# -- command line --------------------------------------------------------------------------------


def parse_seeds(items: Sequence[str], tasks: Sequence[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for item in items:
        name, _, text = item.partition("=")
        if name not in tasks or not text:
            raise SystemExit(f"--seeds takes TASK=0,1,2 with TASK one of {', '.join(tasks)}; "
                             f"got {item!r}")
        out[name] = [int(s) for s in text.split(",")]
    return out


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, dict[str, TaskDef]]:
    parser = argparse.ArgumentParser(prog="python -m bench.search_efficiency",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=None)
    parser.add_argument("--setups", nargs="+", choices=list(SETUPS), default=None,
                        help="default: all five (Ray Tune only when ray is installed)")
    parser.add_argument("--seeds", nargs="+", default=[], metavar="TASK=S,S",
                        help="seeds per task (default: adding 0-4, the others 0-2)")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="wall-clock seconds per run (default 120)")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="epochs per trial for every task (default: the task's)")
    parser.add_argument("--workers", type=int, default=cores(),
                        help="worker processes or concurrent trials (default: one per core)")
    parser.add_argument("--service-trials", type=int, default=1000,
                        help="n_trials of the service's studies (the budget ends them first)")
    parser.add_argument("--default-spec", type=json.loads, default=None, metavar="JSON",
                        help="keys set on setup 1's spec, to measure a variant of the "
                             "default (e.g. '{\"warm_start\": {\"best_practice\": "
                             "true}}'); use its own --results")
    parser.add_argument("--one-epoch-share", type=float, default=0.5,
                        help="share of the budget the one-epoch baseline spends on one-epoch "
                             "trials (default 0.5)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="one JSON file per finished run; runs found there are skipped")
    parser.add_argument("--load", action="store_true",
                        help="run nothing: write the tables and the plot from saved runs")
    parser.add_argument("--estimate", action="store_true",
                        help="print the runs to do and their time, run nothing")
    parser.add_argument("--max-load", type=float, default=None,
                        help="before each run, wait until the 1-minute load average is at "
                             "most this (default: do not wait; the load is recorded)")
    parser.add_argument("--max-wait", type=float, default=120.0,
                        help="seconds to wait for --max-load at most (default 120)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: tiny adding and copy-memory tasks, one seed, 10 s "
                             "per run, its own results folder")
    parser.add_argument("--write-doc", action="store_true")
    parser.add_argument("--doc", type=Path, default=DOC_PATH)
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG (no matplotlib)")
    args = parser.parse_args(argv)
    tasks = dict(QUICK_TASKS if args.quick else TASKS)
    if args.tasks is None:
        args.tasks = list(tasks)
    if args.quick:
        args.tasks = [t for t in args.tasks if t in QUICK_TASKS] or list(QUICK_TASKS)
        if args.budget == parser.get_default("budget"):
            args.budget = 10.0
        if args.results == RESULTS:
            args.results = RESULTS.parent / "search_efficiency-quick"
    if args.setups is None:
        args.setups = [s for s in SETUPS if s != "ray" or ray_available()]
    elif "ray" in args.setups and not ray_available() and not args.load:
        parser.error("setup ray needs ray[tune]: pip install -r bench/requirements.txt")
    seeds = {name: list(tasks[name].seeds) for name in args.tasks}
    seeds.update(parse_seeds(args.seeds, args.tasks))
    args.seeds = seeds
    if args.budget <= 0 or args.workers < 1 or not 0 < args.one_epoch_share < 1:
        parser.error("--budget and --workers must be positive, --one-epoch-share in (0, 1)")
    args.command = "python -m bench.search_efficiency " + shlex.join(
        _reproducing(list(sys.argv[1:] if argv is None else argv)))
    return args, tasks


def _reproducing(argv: list[str]) -> list[str]:
    """The arguments that reproduce the runs and write the section (no --doc, --load,
    --estimate or --no-plot)."""
    dropped_with_value, dropped = ("--doc",), ("--load", "--estimate", "--no-plot",
                                                "--write-doc")
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in dropped_with_value:
            skip = True
        elif arg not in dropped and not arg.startswith("--doc="):
            out.append(arg)
    return [*out, "--write-doc"]


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, list[RunRecord]]]:
    args, tasks = parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not args.load:
        run_all(args, tasks)
        if args.estimate:
            return {}
    all_runs = load_runs(args)
    if not all_runs:
        raise SystemExit(f"no saved runs in {args.results}")
    for name, runs in all_runs.items():
        task = tasks[name]
        targets = report.ladder(runs, task.targets)
        print(f"\n{name} ({task.metric}):")
        print(report.reach_table(runs, SETUPS, targets, task.metric))
        print()
        print(report.ratio_table(runs, SETUPS, PEERS, targets, task.metric))
    figure = None
    if not args.no_plot:
        path = args.doc.parent / FIGURE_NAME
        report.anytime_plot(all_runs, SETUPS, {n: tasks[n].targets[:1] for n in all_runs},
                            {n: tasks[n].metric for n in all_runs}, path)
        figure = FIGURE_NAME
        print(f"wrote {path}")
    if args.write_doc:
        saved = args.results / "command.txt"
        command = saved.read_text().strip() if args.load and saved.exists() else args.command
        write_section(SECTION_TITLE, section(all_runs, tasks, command=command, figure=figure),
                      args.doc)
        print(f"wrote the section to {args.doc}")
    return all_runs


if __name__ == "__main__":
    main()
