"""The selection step: the top trials re-run with further seeds inside the study's budget, the
winner chosen on the seed mean, and the final evaluation beside fitted baselines."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
import torch
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from service.api._views import study_public
from service.models import load_model
from service.specs import parse_spec_mapping, search_trials, selection_plan
from service.store import StudyStore
from service.tuning import resolve_spec, select_best
from service.worker import Worker
from tests.factories import create_study, tiny_spec
from tests.worker.test_evaluation import run_until

SPACES_DIR = Path(__file__).resolve().parents[2] / "search_spaces"


@pytest.mark.parametrize(
    ("n_trials", "seeds", "top_k", "plan"),
    [
        (30, 3, 3, (3, 6)),    # the shipped examples: 24 searched, 6 re-runs
        (20, 3, 3, (2, 4)),    # k shrinks so that the re-runs take at most a fifth
        (10, 2, 3, (2, 2)),
        (9, 3, 3, (0, 0)),     # too small to spare two candidates: off
        (30, 1, 3, (0, 0)),    # one seed: nothing to re-run
        (30, 3, 0, (0, 0)),    # asked off
    ],
)
def test_selection_plan_keeps_its_runs_inside_the_budget(
    n_trials: int, seeds: int, top_k: int, plan: tuple[int, int]
) -> None:
    spec = parse_spec_mapping(tiny_spec(budget={"n_trials": n_trials, "max_epochs": 1},
                                        evaluation={"seeds": seeds, "select_top_k": top_k}))
    assert selection_plan(spec) == plan
    assert search_trials(spec) == n_trials - plan[1]




def test_selection_runs_count_in_the_budget_and_choose_on_the_seed_mean(
    store: StudyStore,
) -> None:
    spec = tiny_spec(budget={"n_trials": 10, "max_epochs": 2},
                     evaluation={"seeds": 2, "select_top_k": 2})
    record = create_study(store, spec)
    worker = Worker(store.settings, worker_id="w1", device="cpu")
    run_until(worker, lambda: store.get(record.id).eval_status == "done", timeout=180)
    study = study_public(store.get(record.id), store.trials(record))
    evaluation = study.evaluation
    assert evaluation is not None and evaluation.selection is not None
    selection = evaluation.selection
    # The search ran 8 trials, the selection 2 runs: 10, the budget, and not one more.
    assert study.search_trials == 8 and study.trials.finished == 8
    assert selection.runs == 2
    assert study.trials.finished + selection.runs == study.budget.n_trials
    # A trial failed as stale on a loaded machine is retried as a new trial; leaving such
    # failures aside, the study holds only the search's trials.
    searched = [t for t in store.trials(record) if t.state != TrialState.FAIL]
    assert len(searched) == 8, "selection runs are not trials of the search"

    trials = {t.number: t for t in store.trials(record)}
    assert len(selection.candidates) == 2 and selection.seeds == [0, 1]
    for candidate in selection.candidates:
        assert len(candidate.values) == 2
        assert candidate.values[0] == pytest.approx(trials[candidate.trial].value)
        assert candidate.mean == pytest.approx(statistics.fmean(candidate.values))
    by_trial = {c.trial: c for c in selection.candidates}
    winner = by_trial[selection.winner]
    assert winner.mean == min(c.mean for c in selection.candidates)
    assert evaluation.trial == selection.winner and str(selection.winner) in selection.reason
    # The winner's re-run is its evaluation run for that seed, not trained a second time.
    assert evaluation.runs[1].val["loss"] == pytest.approx(winner.values[1])
    # By default the model served is the seed ensemble, the selection's re-run among its members.
    assert evaluation.ensemble is not None and evaluation.ensemble.seeds == [0, 1]
    stored = store.models.get(record.id)
    assert stored is not None
    loaded = load_model(stored.content)
    assert loaded.n_members == 2
    assert loaded.test["loss"] == pytest.approx(evaluation.ensemble.test["loss"])

    ridge = [b for b in evaluation.baselines if b.name == "ridge" and b.metric == "val_loss"]
    assert len(ridge) == 1 and ridge[0].value is not None and ridge[0].test_value is not None
    assert evaluation.verdict is not None and "baseline" in evaluation.verdict


def test_small_budget_keeps_the_best_single_trial(store: StudyStore) -> None:
    record = create_study(store, tiny_spec(evaluation={"seeds": 2}))
    worker = Worker(store.settings, worker_id="w1", device="cpu")
    run_until(worker, lambda: store.get(record.id).eval_status == "done")
    study = study_public(store.get(record.id), store.trials(record))
    assert study.evaluation is not None and study.evaluation.selection is None
    assert study.best is not None and study.evaluation.trial == study.best.number
    assert study.search_trials == 3


# -- several validation splits ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_trials", "seeds", "splits", "plan"),
    [
        (20, 1, 3, (2, 4)),    # one seed on three splits: 2 further runs per candidate
        (30, 2, 2, (2, 6)),    # two seeds x two splits: 3 further runs per candidate
        (30, 3, 3, (0, 0)),    # 8 further runs per candidate do not fit a fifth of 30
        (400, 3, 3, (3, 24)),
    ],
)
def test_every_split_of_every_seed_is_kept_in_the_budget(
    n_trials: int, seeds: int, splits: int, plan: tuple[int, int]
) -> None:
    spec = parse_spec_mapping(tiny_spec(
        budget={"n_trials": n_trials, "max_epochs": 1},
        evaluation={"seeds": seeds, "select_top_k": 3,
                    "validation": {"scheme": "repeated", "splits": splits}}))
    assert selection_plan(spec) == plan
    assert search_trials(spec) == n_trials - plan[1]
    holdout = parse_spec_mapping(tiny_spec(budget={"n_trials": n_trials, "max_epochs": 1},
                                           evaluation={"seeds": seeds, "select_top_k": 3}))
    assert holdout.evaluation.validation.scheme == "holdout", "today's behaviour by default"


def test_select_best_trains_every_seed_on_every_split() -> None:
    spec = parse_spec_mapping(tiny_spec(
        budget={"n_trials": 30, "max_epochs": 2},
        evaluation={"seeds": 2, "select_top_k": 2,
                    "validation": {"scheme": "repeated", "splits": 2}}))
    resolved = resolve_spec(spec, spaces_dir=SPACES_DIR)
    distributions = {"cell": CategoricalDistribution(["gru", "lstm"]),
                     "hidden_size": IntDistribution(4, 8),
                     "lr": FloatDistribution(1e-3, 1e-2, log=True)}
    trials = [create_trial(params=p, distributions=distributions, value=v)
              for p, v in (({"cell": "gru", "hidden_size": 5, "lr": 0.005}, 0.2),
                           ({"cell": "lstm", "hidden_size": 6, "lr": 0.003}, 0.3))]
    for number, trial in enumerate(trials):
        trial.number = number
    seen: list[tuple[int, int]] = []
    selection = select_best(resolved, trials, seeds=[0, 1], device=torch.device("cpu"),
                            on_run=lambda number, run: seen.append((number, run.seed)))
    assert selection is not None and selection.public is not None
    public = selection.public
    # Per candidate: (seed 0, split 1), (seed 1, split 0), (seed 1, split 1); the trial is the
    # fourth. 2 x 3 = 6 runs, what selection_plan kept.
    assert public.runs == 6 == selection_plan(spec)[1] and len(seen) == 6
    assert public.validation == "random re-splits, 2 splits"
    for candidate, trial in zip(public.candidates, trials, strict=True):
        grid = candidate.splits
        assert grid is not None and [len(row) for row in grid] == [2, 2]
        assert grid[0][0] == pytest.approx(trial.value)
        every = [v for row in grid for v in row]
        assert all(v is not None for v in every)
        assert candidate.mean == pytest.approx(statistics.fmean(every))  # type: ignore[arg-type]
        assert candidate.values == pytest.approx([statistics.fmean(row) for row in grid])  # type: ignore[arg-type]
        assert grid[0][1] != grid[0][0], "the second split is another split"
    winner = min(public.candidates, key=lambda c: c.mean or 0.0)
    assert public.winner == winner.trial and "2 validation splits" in public.reason
    # Only the study's own split gives runs the final evaluation reuses: seed 1 on split 0.
    assert set(selection.runs) == {1}
    chosen = next(c for c in public.candidates if c.trial == public.winner)
    assert chosen.splits is not None
    assert selection.runs[1].val["loss"] == pytest.approx(chosen.splits[1][0])


def test_a_study_scored_on_several_splits_counts_them_in_its_budget(store: StudyStore) -> None:
    spec = tiny_spec(budget={"n_trials": 20, "max_epochs": 2},
                     evaluation={"seeds": 1, "select_top_k": 2,
                                 "validation": {"scheme": "repeated", "splits": 3}})
    record = create_study(store, spec)
    worker = Worker(store.settings, worker_id="w1", device="cpu")
    run_until(worker, lambda: store.get(record.id).eval_status == "done", timeout=300)
    study = study_public(store.get(record.id), store.trials(record))
    assert study.evaluation is not None and study.evaluation.selection is not None
    selection = study.evaluation.selection
    # 16 searched trials and 2 candidates x 2 further splits: the budget of 20, not one more.
    assert study.search_trials == 16 and study.trials.finished == 16
    assert selection.runs == 4
    assert study.trials.finished + selection.runs == study.budget.n_trials
    assert selection.validation == "random re-splits, 3 splits"
    trials = {t.number: t for t in store.trials(record)}
    for candidate in selection.candidates:
        assert candidate.splits is not None and len(candidate.splits) == 1
        row = candidate.splits[0]
        assert len(row) == 3 and row[0] == pytest.approx(trials[candidate.trial].value)
        assert candidate.mean == pytest.approx(statistics.fmean(row))  # type: ignore[arg-type]
    assert study.evaluation.trial == selection.winner
