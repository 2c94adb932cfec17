"""Task-aware spaces and the final evaluation: the best configuration re-trained with several
seeds and scored once on the test split."""

from __future__ import annotations

import statistics
from typing import Any

import optuna
import pytest
import torch

from service.config import default_search_spaces_dir
from service.errors import SpecError
from service.models import SeedEnsemble, SequenceModel
from service.specs import parse_spec_mapping
from service.tuning import evaluate_best, make_objective, resolve_spec

SPACES_DIR = default_search_spaces_dir()

SUNSPOTS_SPACE = {"params": {
    "window": {"type": "int", "low": 4, "high": 12},
    "cell": "gru",
    "hidden_size": {"type": "int", "low": 4, "high": 8},
    "lr": 0.01,
    "batch_size": 32,
}}


def resolve(**spec: Any) -> Any:
    return resolve_spec(parse_spec_mapping(spec), spaces_dir=SPACES_DIR)


def test_window_is_refused_outside_forecasting_naming_it() -> None:
    space = {"params": {"window": {"type": "int", "low": 4, "high": 8}}}
    for task in ({"name": "japanese_vowels"}, {"name": "adding"}, {"name": "copy_memory"}):
        with pytest.raises(SpecError) as caught:
            resolve(task=task, search_space=space)
        assert caught.value.loc == ("search_space", "params", "window")
        assert "window applies only to forecasting tasks" in caught.value.message


def test_window_range_must_fit_the_data() -> None:
    space = {"params": {"window": {"type": "int", "low": 4, "high": 120}}}
    with pytest.raises(SpecError, match=r"\[4, 120\], but this task allows \[1, 100\]"):
        resolve(task={"name": "sunspots"}, search_space=space)


def test_shipped_task_spaces() -> None:
    forecasting = resolve(task={"name": "sunspots"}, search_space="forecasting")
    assert "window" in forecasting.space.names and "bidirectional" not in forecasting.space.names
    classification = resolve(task={"name": "japanese_vowels"}, search_space="classification",
                             objective={"metric": "val_accuracy"})
    assert classification.direction == "maximize"
    assert [b.name for b in classification.baselines] == ["majority_class", "1nn_dtw"]
    # With a loss objective the accuracy references still show, beside majority accuracy.
    by_loss = resolve(task={"name": "japanese_vowels"}, search_space="classification")
    assert [(b.name, b.metric) for b in by_loss.baselines] == [
        ("majority_class", "loss"), ("majority_class", "accuracy"), ("1nn_dtw", "accuracy")]
    # Bidirectional models are refused where the task forbids them.
    for task in ("sunspots", "copy_memory"):
        with pytest.raises(SpecError, match="does not allow bidirectional"):
            resolve(task={"name": task}, search_space="classification")
    with pytest.raises(SpecError, match="window applies only to forecasting"):
        resolve(task={"name": "japanese_vowels"}, search_space="forecasting")


def test_sunspots_baselines_travel_with_the_resolved_study() -> None:
    resolved = resolve(task={"name": "sunspots"}, search_space=SUNSPOTS_SPACE,
                       objective={"metric": "val_mse"})
    names = {b.name: b.test_value for b in resolved.baselines}
    assert names["naive_last_value"] == pytest.approx(920.7, abs=0.05)
    assert names["ar9"] == pytest.approx(305.2, abs=0.05)
    assert resolved.baseline is not None and resolved.baseline.name == "naive_last_value"


def test_final_evaluation_reproduces_the_trial_and_reports_seed_spread() -> None:
    resolved = resolve(task={"name": "sunspots"}, search_space=SUNSPOTS_SPACE,
                       objective={"metric": "val_mse"}, budget={"n_trials": 2, "max_epochs": 4},
                       seed=3, sampler={"name": "random", "seed": 0}, pruner={"name": "none"})
    device = torch.device("cpu")
    study = optuna.create_study(direction="minimize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(make_objective(resolved, device=device, worker="t", study_id=1), n_trials=2)
    best = study.best_trial
    result = evaluate_best(resolved, trial_number=best.number, params=best.params,
                           seeds=[3, 4, 5], device=device)
    assert result is not None
    runs = result["runs"]
    assert [r["seed"] for r in runs] == [3, 4, 5] and all(r["status"] == "completed" for r in runs)
    # The study's own seed re-trains exactly the best trial: same best validation value.
    assert runs[0]["val"]["mse"] == pytest.approx(best.value, rel=1e-6)
    assert result["test"] == runs[0]["test"] and result["test"]["mse"] > 0
    seeds = result["seeds"]
    values = [r["test"]["mse"] for r in runs]
    assert seeds["metric"] == "test_mse" and seeds["values"] == values
    assert seeds["mean"] == pytest.approx(statistics.fmean(values))
    assert seeds["std"] == pytest.approx(statistics.stdev(values))
    assert set(seeds["metrics"]) == {"loss", "mse", "rmse", "mae"}
    assert result["params"] == best.params and result["trial"] == best.number


def test_evaluation_stops_when_interrupted() -> None:
    resolved = resolve(task={"name": "sunspots"}, search_space=SUNSPOTS_SPACE,
                       budget={"n_trials": 1, "max_epochs": 3})
    result = evaluate_best(resolved, trial_number=0, params={"window": 5, "hidden_size": 4},
                           seeds=[0, 1], device=torch.device("cpu"),
                           should_interrupt=lambda: True)
    assert result is None


@pytest.mark.parametrize("ensemble", [True, False])
def test_the_seed_ensemble_is_scored_and_kept_as_the_model(ensemble: bool) -> None:
    resolved = resolve(task={"name": "sunspots"}, search_space=SUNSPOTS_SPACE,
                       objective={"metric": "val_mse"}, budget={"n_trials": 1, "max_epochs": 3},
                       evaluation={"ensemble": ensemble})
    kept: list[Any] = []
    result = evaluate_best(resolved, trial_number=0, params={"window": 6, "hidden_size": 4},
                           seeds=[0, 1], device=torch.device("cpu"),
                           on_model=lambda model, data: kept.append((model, data)))
    assert result is not None and len(kept) == 1
    model, data = kept[0]
    with torch.no_grad():
        mse = float(((model(data.test.x) - data.test.y) * data.target_scale).square().mean())
    if not ensemble:
        assert "ensemble" not in result and isinstance(model, SequenceModel)
        assert mse == pytest.approx(result["test"]["mse"], rel=1e-5)
        return
    assert isinstance(model, SeedEnsemble) and len(model.members) == 2
    assert result["ensemble"]["seeds"] == [0, 1]
    # The kept model is the one scored, and its MSE is no worse than its members' mean
    # (squared error is convex: Jensen's inequality).
    assert result["ensemble"]["test"]["mse"] == pytest.approx(mse, rel=1e-5)
    members = [run["test"]["mse"] for run in result["runs"]]
    assert mse <= statistics.fmean(members) + 1e-9
