"""bench/search_efficiency.py: the quick mode runs every setup and writes its figures; the
figures themselves are checked on runs made up here."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from bench import _anytime as anytime
from bench import _concurrency as concurrency
from bench import _search_report as report
from bench import search_efficiency

HAS_PLOT = importlib.util.find_spec("matplotlib") is not None
HAS_RAY = importlib.util.find_spec("ray") is not None


@pytest.mark.slow
@pytest.mark.timeout(1200)  # one tiny run per setup; each starts a service, processes or Ray
def test_quick_mode_runs_every_setup_saves_them_and_writes_the_section(
        tmp_path: Path) -> None:
    results, doc = tmp_path / "results", tmp_path / "benchmarks.md"
    argv = ["--quick", "--tasks", "adding", "--workers", "2", "--results", str(results),
            "--write-doc",
            "--doc", str(doc), *([] if HAS_PLOT else ["--no-plot"])]
    runs = search_efficiency.main(argv)["adding"]
    expected = {"default", "random", "optuna", "one-epoch"} | ({"ray"} if HAS_RAY else set())
    assert set(runs) == expected
    saved = {setup: results / "adding" / setup / "seed-0.json" for setup in expected}
    assert all(path.exists() for path in saved.values())
    for setup, path in saved.items():
        run = anytime.RunRecord.read(path)
        assert run.setup == setup and run.budget_s == 10.0 and run.config["max_epochs"] == 3
        for trial in run.trials:  # every epoch ended while its trial held a worker
            assert len(trial.values) == len(trial.ends)
            assert all(trial.busy[0][0] <= end for end in trial.ends)
    # No timing is asserted (a loaded machine may finish no epoch in 10 s); the searches
    # started trials, and no run counts more worker time than its workers had.
    assert sum(len(r.trials) for rs in runs.values() for r in rs) > 0
    assert all(0 <= r.spent()[1] <= 2 * 10.0 + 1e-6 for rs in runs.values() for r in rs)
    text = doc.read_text()
    assert search_efficiency.SECTION_TITLE in text and "Against the targets" in text
    assert all(label in text for key, label in search_efficiency.SETUPS.items() if key in expected)
    assert "--quick --tasks adding --workers 2" in text and "--doc" not in text
    assert (tmp_path / search_efficiency.FIGURE_NAME).exists() == HAS_PLOT
    # Run again: every run is saved, so nothing runs, and the page comes out the same.
    stamps = {path: path.stat().st_mtime_ns for path in saved.values()}
    search_efficiency.main(argv)
    assert {path: path.stat().st_mtime_ns for path in saved.values()} == stamps
    assert doc.read_text() == text
    again = tmp_path / "again" / "benchmarks.md"
    search_efficiency.main(["--quick", "--tasks", "adding", "--results", str(results),
                            "--load", "--write-doc", "--doc", str(again),
                            *([] if HAS_PLOT else ["--no-plot"])])
    assert again.read_text() == text


# -- the figures, on runs made up here ---------------------------------------------------------


def _run(setup: str, seed: int, curve: list[tuple[float, float]], *,
         task: str = "adding", budget: float = 100.0) -> anytime.RunRecord:
    """A run of two workers: trial i ran from 10*i to 10*(i+1) on worker i % 2 and reported
    one epoch of ``curve`` (end time, value) each."""
    trials = [anytime.TrialRecord(params={"lr": 0.01}, state="complete", values=[value],
                                  ends=[end], busy=[(end - 10.0, end)])
              for end, value in curve]
    return anytime.RunRecord(task=task, setup=setup, seed=seed,
                             config={"budget_s": budget, "max_epochs": 1, "workers": 2},
                             direction="minimize", budget_s=budget, wall_s=budget,
                             trials=trials, timing="measured", load=(0.5, 0.7), foreign=0.01,
                             facts="2 CPU cores, rnntune at abc1234; measured today")


def test_compute_to_a_target_counts_every_trial_until_then_within_the_budget() -> None:
    trial = anytime.TrialRecord
    run = anytime.RunRecord(
        task="adding", setup="default", seed=0, config={}, direction="minimize",
        budget_s=30.0, wall_s=30.0, timing="measured", trials=[
            trial({}, "complete", [0.5, 0.2], [5.0, 10.0], [(0.0, 10.0)]),
            trial({}, "pruned", [0.4], [8.0], [(2.0, 8.0)]),
            trial({}, "running", [0.1, 0.01], [20.0, 40.0], [(10.0, 45.0)]),
        ])
    assert run.to_reach(0.4) == (2.0, 8.0 + 6.0)  # at t=8: two epochs, two busy workers
    assert run.to_reach(0.15) == (4.0, 10.0 + 6.0 + 10.0)
    assert run.to_reach(0.05) is None  # 0.01 came after the 30 s budget
    assert run.spent() == (4.0, 10.0 + 6.0 + 20.0)
    assert run.best() == 0.1
    ends = anytime.interpolated_ends(0.0, 10.0, 4, cut=False)
    assert ends == [2.5, 5.0, 7.5, 10.0]
    assert anytime.interpolated_ends(0.0, 9.0, 2, cut=True) == pytest.approx([3.6, 7.2])


def test_medians_and_ratios_keep_their_bounds() -> None:
    bounded = report.Bounded
    assert report.median_of([bounded(1), bounded(5), bounded(9, ">=")]) == bounded(5)
    assert report.median_of([bounded(1), bounded(9, ">="), bounded(12, ">=")]).mark == ">="
    assert math.isnan(report.median_of([]).value)
    assert report.verdict(bounded(3.5, ">="), 3.0) == "met"
    assert report.verdict(bounded(2.0, ">="), 3.0).startswith("undecided")
    assert report.verdict(bounded(2.0), 3.0) == "**missed**"

    default = _run("default", 0, [(10, 0.1), (20, 0.01)])
    random = _run("random", 0, [(10, 0.1), (20, 0.05), (30, 0.04), (40, 0.009)])
    never = _run("random", 1, [(10, 0.2), (20, 0.2)])
    assert report.ratio(random, default, 0.01, 0) == bounded(2.0)  # 4 epochs against 2
    assert report.ratio(random, default, 0.01, 1) == bounded(2.0)  # 40 worker-s against 20
    assert report.ratio(never, default, 0.01, 0) == bounded(1.0, ">=")  # its 2 epochs / 2
    assert report.ratio(default, never, 0.01, 0) == bounded(1.0, "<=")
    assert report.ratio(never, never, 0.01, 0) is None
    runs = {"default": [default], "random": [random]}
    assert report.ladder(runs, (0.1, 0.01, 0.001)) == [0.1, 0.01]
    assert report.stalls({"default": [never], "random": [random]}, [0.1, 0.01]) == [
        (1, 0.1), (1, 0.01)]
    assert report.stalls(runs, [0.1, 0.01]) == []


def test_saved_runs_write_the_section_and_the_plot_without_running(tmp_path: Path) -> None:
    results = tmp_path / "results"
    curves = {"default": [(10, 0.1), (20, 0.002)],
              "random": [(10, 0.1), (20, 0.009), (30, 0.1), (40, 0.1), (50, 0.1), (60, 0.002)],
              "optuna": [(10, 0.1), (40, 0.002)],
              "one-epoch": [(10.0 * i, 0.05) for i in range(1, 10)]}
    for task in ("adding", "copy_memory"):
        for setup, curve in curves.items():
            for seed in (0, 1, 2):
                run = _run(setup, seed, curve, task=task)
                run.save(results / task / setup / f"seed-{seed}.json")
    (results / "command.txt").write_text("python -m bench.search_efficiency --write-doc\n")
    doc = tmp_path / "benchmarks.md"
    argv = ["--load", "--results", str(results), "--tasks", "adding", "copy_memory",
            "--write-doc", "--doc", str(doc), *([] if HAS_PLOT else ["--no-plot"])]
    loaded = search_efficiency.main(argv)
    assert set(loaded) == {"adding", "copy_memory"} and len(loaded["adding"]["random"]) == 3
    text = doc.read_text()
    assert "python -m bench.search_efficiency --write-doc" in text
    # random / default at 0.003: 6 epochs against 2, in every seed
    assert "| val_mse <= 0.003 | 3.0x | 3.0x |" in text
    assert "adding: at least 3x less compute (epochs) than random search at every target: " \
           "0.01: 1.0x **missed**, 0.003: 3.0x met" in text
    assert "no seed stalls (the default reaches every target random search reaches, per " \
           "seed): none in 6 (seed, target) pairs random search reached: met" in text
    # The one-epoch baseline never reached 0.01: its ratio is a lower bound.
    assert ">=4.5x" in text
    assert ("search_efficiency.png" in text) == HAS_PLOT
    assert (tmp_path / "search_efficiency.png").exists() == HAS_PLOT


def test_a_saved_run_with_other_settings_is_not_reused(tmp_path: Path) -> None:
    path = tmp_path / "adding" / "random" / "seed-0.json"
    _run("random", 0, [(10, 0.1)]).save(path)
    with pytest.raises(SystemExit, match="other settings"):
        search_efficiency.saved_run(path, {"budget_s": 60.0})
    assert json.loads(path.read_text())["config"]["budget_s"] == 100.0


def test_the_default_setup_leaves_sampler_and_pruner_to_the_service() -> None:
    spec = search_efficiency.study_spec(search_efficiency.TASKS["adding"], seed=3, max_epochs=10)
    default = search_efficiency.service_spec(spec, "default", name="x", seed=3,
                                             budget_s=90.0, n_trials=1000)
    assert default["sampler"] == {"seed": 3}  # the default sampler, seeded like random search
    assert "pruner" not in default and "warm_start" not in default
    variant = search_efficiency.service_spec(spec, "default", name="x", seed=3,
                                             budget_s=90.0, n_trials=1000,
                                             default_extra={"sampler": {"name": "gp"}})
    assert variant["sampler"] == {"seed": 3, "name": "gp"}
    assert default["budget"] == {"max_epochs": 10, "n_trials": 1000, "timeout_s": 90.0}
    random = search_efficiency.service_spec(spec, "random", name="x", seed=3,
                                            budget_s=90.0, n_trials=1000)
    assert random["sampler"] == {"name": "random", "seed": 3}
    assert random["pruner"] == {"name": "none"}
    assert random["warm_start"] is None  # pure random search: no best-practice trials first
    assert {k: v for k, v in random.items() if k not in ("sampler", "pruner", "warm_start")
            } == {k: v for k, v in default.items() if k != "sampler"}


def test_the_plan_turns_the_setups_with_the_seed_and_estimates_its_time() -> None:
    args, _ = search_efficiency.parse_args(["--tasks", "adding", "--seeds", "adding=0,1",
                                            "--setups", "default", "random", "--budget", "90"])
    assert search_efficiency.plan(args) == [("adding", "default", 0), ("adding", "random", 0),
                                            ("adding", "random", 1), ("adding", "default", 1)]
    assert search_efficiency.estimate_s(search_efficiency.plan(args), 90.0) == 4 * 90 + 4 * 25
    with pytest.raises(SystemExit):
        search_efficiency.parse_args(["--seeds", "nosuchtask=1"])


def test_concurrent_near_duplicates_are_counted() -> None:
    space = {"params": {
        "cell": {"type": "categorical", "choices": ["lstm", "gru"]},
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "hidden_size": {"type": "int", "low": 16, "high": 128}}}

    def trial(cell: str, lr: float, busy: tuple[float, float]) -> anytime.TrialRecord:
        return anytime.TrialRecord(params={"cell": cell, "lr": lr, "hidden_size": 64},
                                   state="complete", values=[0.1], ends=[busy[1]], busy=[busy])

    run = anytime.RunRecord(
        task="adding", setup="default", seed=0, config={}, direction="minimize", budget_s=10,
        wall_s=10, timing="measured", trials=[
            trial("lstm", 1e-3, (0, 4)),
            trial("lstm", 1.1e-3, (1, 5)),  # at the same time, lr 1.4% of the range away
            trial("gru", 1e-3, (2, 3)),  # at the same time, another cell
            trial("lstm", 1e-3, (6, 8)),  # the same configuration, but later
        ])
    assert concurrency.concurrent_pairs(run, space) == (3, 1)
    assert concurrency.concurrent_pairs(run, space, tolerance=0.001) == (3, 0)
    assert not concurrency.near_duplicate({"cell": "lstm", "lr": 1e-3}, {"cell": "lstm"}, space)
