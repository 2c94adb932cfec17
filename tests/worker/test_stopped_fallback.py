"""A study in which the pruner stopped every trial still ends with a model: the stopped trial
with the best validation value is trained in full and evaluated, and the study says so."""

from __future__ import annotations

import math

from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from service.api._views import study_public
from service.cli._format import evaluation_lines
from service.config import Settings
from service.report import build_report
from service.store import StudyStore
from service.trial_attrs import ATTR_PRUNE_REASON
from service.tuning import best_stopped_trial
from service.worker import Worker
from tests.factories import create_study, tiny_spec
from tests.worker.test_evaluation import run_until


def _trial(number: int, state: TrialState, curve: dict[int, float], *,
           reason: str = "pruner", value: float | None = None) -> FrozenTrial:
    trial = create_trial(
        state=state, value=value, params={"lr": 0.01},
        distributions={"lr": FloatDistribution(1e-3, 1e-1)},
        intermediate_values=curve, user_attrs={ATTR_PRUNE_REASON: reason},
    )
    trial.number = number
    return trial


def test_the_best_value_any_stopped_trial_reached_wins() -> None:
    trials = [
        _trial(0, TrialState.PRUNED, {1: 0.9, 2: 0.5}),
        _trial(1, TrialState.PRUNED, {1: 0.7, 2: 0.4, 3: 0.45}),  # its best is not its last
        _trial(2, TrialState.PRUNED, {1: 0.1, 2: math.nan}, reason="diverged"),
        _trial(3, TrialState.PRUNED, {1: math.nan, 2: 0.6}),
        _trial(4, TrialState.RUNNING, {1: 0.05}),
    ]
    choice = best_stopped_trial(trials, maximize=False)
    assert choice is not None
    assert (choice.trial.number, choice.epoch, choice.value) == (1, 2, 0.4)
    assert "no trial completed" in choice.note("val_loss") and "trial 1" in choice.note("val_loss")
    best_up = best_stopped_trial(trials, maximize=True)
    assert best_up is not None and (best_up.trial.number, best_up.epoch) == (0, 1)


def test_a_tie_goes_to_the_trial_the_pruner_kept_longer() -> None:
    low = [_trial(0, TrialState.PRUNED, {1: 0.5}),
           _trial(1, TrialState.PRUNED, {1: 0.8, 2: 0.6, 3: 0.5})]
    choice = best_stopped_trial(low, maximize=False)
    assert choice is not None and (choice.trial.number, choice.epoch) == (1, 3)
    high = [_trial(0, TrialState.PRUNED, {1: 0.9}),
            _trial(1, TrialState.PRUNED, {1: 0.9, 2: 0.7})]  # its best is not its last
    choice = best_stopped_trial(high, maximize=True)
    assert choice is not None and (choice.trial.number, choice.epoch) == (1, 1)


def test_nothing_to_choose_when_every_stopped_trial_diverged() -> None:
    trials = [_trial(0, TrialState.PRUNED, {1: 0.3}, reason="diverged"),
              _trial(1, TrialState.PRUNED, {}),
              _trial(2, TrialState.COMPLETE, {1: 0.2}, value=0.2)]
    assert best_stopped_trial(trials, maximize=False) is None


def test_a_study_whose_every_trial_was_stopped_is_evaluated_on_the_best_one(
    sqlite_settings: Settings,
) -> None:
    store = StudyStore(sqlite_settings)
    store.initialize()
    try:
        # A threshold no loss meets: the pruner stops every trial after its first epoch.
        spec = tiny_spec(pruner={"name": "threshold", "upper": 1e-12},
                         budget={"n_trials": 3, "max_epochs": 3}, evaluation={"seeds": 2})
        record = create_study(store, spec)
        worker = Worker(store.settings, worker_id="w1", device="cpu")
        run_until(worker, lambda: store.get(record.id).eval_status in ("done", "skipped"),
                  timeout=120)
        trials = store.trials(record)
        assert [t.state for t in trials] == [TrialState.PRUNED] * 3
        study = study_public(store.get(record.id), trials)
        assert study.best is None
        evaluation = study.evaluation
        assert evaluation is not None and evaluation.status == "done"
        first = {t.number: t.intermediate_values[1] for t in trials}
        chosen = min(first, key=first.__getitem__)
        assert evaluation.trial == chosen
        assert evaluation.message is not None and "no trial completed" in evaluation.message
        assert [run.seed for run in evaluation.runs] == [0, 1]
        assert all(run.status == "completed" for run in evaluation.runs)
        assert evaluation.test is not None and math.isfinite(evaluation.test["loss"])
        assert store.models.get(record.id) is not None
        lines = evaluation_lines(study)  # what `rnntune status` prints
        assert any(line.startswith("note: no trial completed") for line in lines)
        assert "no trial completed: trial" in build_report(study, trials, None)  # the HTML report
    finally:
        store.close()
