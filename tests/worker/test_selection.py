"""The selection step: the top trials re-run with further seeds inside the study's budget, the
winner chosen on the seed mean, and the final evaluation beside fitted baselines."""

from __future__ import annotations

import statistics

import pytest
from optuna.trial import TrialState

from service.api._views import study_public
from service.models import load_model
from service.specs import parse_spec_mapping, search_trials, selection_plan
from service.store import StudyStore
from service.worker import Worker
from tests.factories import create_study, tiny_spec
from tests.worker.test_evaluation import run_until


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
