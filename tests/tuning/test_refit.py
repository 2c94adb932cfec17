"""The final refit: each seed run trained again on training plus validation for the epochs its
validation chose, and that model kept and scored on the test split."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from service.config import default_search_spaces_dir
from service.models import SeedEnsemble, SequenceModel
from service.schemas import EvaluationRun
from service.spaces._catalog import defaults as default_hparams
from service.specs import parse_spec_mapping
from service.tasks import TaskData
from service.tasks._base import SequenceSplit
from service.tasks._baselines import fit_logistic, flat_series
from service.training import EpochResult, Trainer
from service.tuning import evaluate_best, resolve_spec
from service.tuning._evaluate import (
    TailAverage,
    best_hparams,
    refit_and_test,
    refit_epochs,
    train_and_test,
)
from service.tuning._objective import build_model, build_train_config, load_task_data

SPACES_DIR = default_search_spaces_dir()
SUNSPOTS_SPACE = {"params": {"window": 6, "cell": "gru", "hidden_size": 4, "lr": 0.01,
                             "batch_size": 32}}
CPU = torch.device("cpu")


def _sunspots(**evaluation: Any) -> Any:
    return resolve_spec(parse_spec_mapping({
        "task": {"name": "sunspots"}, "search_space": SUNSPOTS_SPACE,
        "objective": {"metric": "val_mse"}, "budget": {"n_trials": 1, "max_epochs": 4},
        "evaluation": evaluation,
    }), spaces_dir=SPACES_DIR)


def _test_mse(model: torch.nn.Module, data: TaskData) -> float:
    assert data.target_scale is not None
    with torch.no_grad():
        return float(((model(data.test.x) - data.test.y) * data.target_scale).square().mean())


def test_the_refit_is_on_by_default_and_can_be_turned_off() -> None:
    assert _sunspots().spec.evaluation.refit is True
    assert _sunspots(refit=False).spec.evaluation.refit is False


def test_the_refit_epochs_are_the_median_of_the_seeds_choices() -> None:
    def run(seed: int, epoch: int | None, status: str = "completed") -> EvaluationRun:
        return EvaluationRun.model_validate({"seed": seed, "status": status,
                                             "best_epoch": epoch})

    assert refit_epochs([run(0, 84), run(1, 1), run(2, 66)]) == 66
    assert refit_epochs([run(0, 9), run(1, 4)]) == 4  # the lower middle: fewer epochs
    assert refit_epochs([run(0, 30), run(1, None, "diverged"), run(2, 2)]) == 2
    assert refit_epochs([run(0, None, "diverged")]) is None


def test_each_seed_is_trained_again_on_training_and_validation_for_the_median_epochs() -> None:
    resolved = _sunspots(ensemble=False)
    kept: list[Any] = []
    result = evaluate_best(resolved, trial_number=0, params={}, seeds=[0, 1], device=CPU,
                           on_model=lambda model, data: kept.append((model, data)))
    assert result is not None and len(kept) == 1
    runs = [EvaluationRun.model_validate(run) for run in result["runs"]]
    assert [run.refit for run in runs] == ["completed", "completed"]
    epochs = min(run.best_epoch or 0 for run in runs)  # the lower middle of two
    assert [run.refit_epochs for run in runs] == [epochs, epochs]
    # The same training, done by hand: the validation years join the training windows, the
    # epochs are the median of those validation chose, the seed is the run's.
    hp = best_hparams(resolved, {})
    data = load_task_data(resolved, CPU, hp)
    for run in runs:
        assert run.stopped_test is not None
        stopped = train_and_test(resolved, hp, seed=run.seed, device=CPU)
        assert stopped is not None and stopped.test == run.stopped_test
        assert stopped.best_epoch == run.best_epoch
        merged = data.validation_in_training()
        assert merged.train.n == data.train.n + data.val.n
        torch.manual_seed(run.seed)
        model = build_model(hp, merged)
        config = build_train_config(hp, max_epochs=epochs, seed=run.seed, device=CPU)
        trainer = Trainer(model, config, kind=data.kind, device=CPU,
                          target_scale=data.target_scale)
        trainer.fit(merged.train, merged.val)
        assert trainer.evaluate(data.test)["mse"] == pytest.approx(run.test["mse"], rel=1e-6)
        assert run.test["mse"] != pytest.approx(run.stopped_test["mse"], rel=1e-6)
    # The model kept is the study seed's refit model, and the result reports its score.
    model, kept_data = kept[0]
    assert isinstance(model, SequenceModel)
    assert _test_mse(model, kept_data) == pytest.approx(result["test"]["mse"], rel=1e-5)
    assert result["test"] == runs[0].test


def _epoch(index: int) -> EpochResult:
    return EpochResult(epoch=index, train_loss=1.0, val_metrics={}, grad_norm_mean=0.0,
                       grad_norm_max=0.0, duration_s=0.0)


def test_the_tail_average_is_the_mean_of_the_last_quarter_of_epochs() -> None:
    model = torch.nn.Linear(1, 1)
    tail = TailAverage(model, epochs=8)  # a quarter of 8: epochs 6 and 7 (0-based)
    for index, weight in enumerate([5.0, 7.0, 1.0, 2.0, 9.0, 4.0, 10.0, 20.0]):
        with torch.no_grad():
            model.weight.fill_(weight)
            model.bias.fill_(-weight)
        assert tail.add(_epoch(index)) is False  # never stops the training
    tail.load_into(model)
    assert model.weight.item() == pytest.approx(15.0) and model.bias.item() == pytest.approx(-15.0)
    assert tail.count == 2
    short = TailAverage(model, epochs=3)  # under four epochs: the last one alone
    for index in range(3):
        with torch.no_grad():
            model.weight.fill_(float(index))
        short.add(_epoch(index))
    short.load_into(model)
    assert short.count == 1 and model.weight.item() == pytest.approx(2.0)


def test_the_refit_model_is_the_average_of_its_last_epochs() -> None:
    resolved = _sunspots()
    hp = best_hparams(resolved, {})
    data = load_task_data(resolved, CPU, hp)
    stopped = EvaluationRun(seed=1, status="completed", best_epoch=3, test={"mse": 1.0})
    refitted = refit_and_test(resolved, hp, stopped, epochs=8, data=data, device=CPU)
    assert refitted is not None and refitted[1] is not None
    run, kept = refitted
    # By hand: the same training, its weights after epochs 7 and 8 averaged.
    merged = data.validation_in_training()
    torch.manual_seed(1)
    model = build_model(hp, merged)
    config = build_train_config(hp, max_epochs=8, seed=1, device=CPU)
    trainer = Trainer(model, config, kind=data.kind, device=CPU, target_scale=data.target_scale)
    states: list[dict[str, torch.Tensor]] = []

    def record(result: EpochResult) -> bool:
        states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return False

    trainer.fit(merged.train, merged.val, on_epoch_end=record)
    assert run.last_epoch_test is not None
    assert trainer.evaluate(data.test)["mse"] == pytest.approx(run.last_epoch_test["mse"],
                                                               rel=1e-6)
    model.load_state_dict({k: (states[6][k] + states[7][k]) / 2 for k in states[7]})
    assert trainer.evaluate(data.test)["mse"] == pytest.approx(run.test["mse"], rel=1e-5)
    assert run.test["mse"] != pytest.approx(run.last_epoch_test["mse"], rel=1e-4)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(kept.state_dict()[name], value)


def test_without_the_refit_the_stopped_models_are_kept() -> None:
    result = evaluate_best(_sunspots(refit=False), trial_number=0, params={}, seeds=[0],
                           device=CPU)
    assert result is not None
    run = EvaluationRun.model_validate(result["runs"][0])
    assert run.refit is None and run.stopped_test is None


def test_the_ensemble_averages_the_refit_models() -> None:
    kept: list[Any] = []
    result = evaluate_best(_sunspots(), trial_number=0, params={}, seeds=[0, 1], device=CPU,
                           on_model=lambda model, data: kept.append((model, data)))
    assert result is not None
    model, data = kept[0]
    assert isinstance(model, SeedEnsemble) and len(model.members) == 2
    members = [_test_mse(member, data) for member in model.members]
    assert members == pytest.approx([run["test"]["mse"] for run in result["runs"]], rel=1e-5)
    assert _test_mse(model, data) == pytest.approx(result["ensemble"]["test"]["mse"], rel=1e-5)


def test_a_run_the_selection_trained_is_only_refit() -> None:
    resolved = _sunspots(ensemble=False)
    hp = best_hparams(resolved, {})
    selection_run = train_and_test(resolved, hp, seed=1, device=CPU)
    assert selection_run is not None
    # A marker the evaluation could not compute itself: the run is taken, not trained again.
    reused = selection_run.model_copy(update={"val": {"mse": -1.0}})
    result = evaluate_best(resolved, trial_number=0, params={}, seeds=[0, 1], device=CPU,
                           reuse={1: reused})
    assert result is not None
    run = EvaluationRun.model_validate(result["runs"][1])
    assert run.val == {"mse": -1.0} and run.refit == "completed"
    assert run.stopped_test == selection_run.test and run.best_epoch == selection_run.best_epoch


def test_a_refit_that_diverges_keeps_the_stopped_run() -> None:
    resolved = _sunspots()
    hp = best_hparams(resolved, {})
    data = load_task_data(resolved, CPU, hp)
    # Validation windows the training cannot digest: the merged training loss is not finite.
    broken_val = SequenceSplit(torch.full_like(data.val.x, float("nan")), data.val.y)
    broken = TaskData(train=data.train, val=broken_val, test=data.test,
                      input_size=data.input_size, output_size=data.output_size, kind=data.kind,
                      target_scale=data.target_scale)
    stopped = EvaluationRun(seed=0, status="completed", best_epoch=2, val={"mse": 1.0},
                            test={"mse": 2.0})
    refitted = refit_and_test(resolved, hp, stopped, epochs=2, data=broken, device=CPU)
    assert refitted is not None
    run, model = refitted
    assert model is None and run.refit == "diverged"
    assert run.test == {"mse": 2.0} and run.stopped_test is None


def test_an_interrupted_refit_returns_nothing() -> None:
    resolved = _sunspots()
    hp = best_hparams(resolved, {})
    stopped = EvaluationRun(seed=0, status="completed", best_epoch=2, test={"mse": 2.0})
    assert refit_and_test(resolved, hp, stopped, epochs=2, device=CPU,
                          data=load_task_data(resolved, CPU, hp),
                          should_interrupt=lambda: True) is None


def test_the_linear_path_keeps_the_penalty_the_original_validation_chose() -> None:
    # Two classes told apart by noisy means: few sequences, so the penalties differ.
    rng = np.random.default_rng(3)

    def split(n: int) -> SequenceSplit:
        labels = rng.integers(0, 2, size=n)
        x = rng.normal(0, 1.0, size=(n, 6, 3))
        x[:, :, 0] += 0.4 * (labels[:, None] - 0.5)
        return SequenceSplit(torch.tensor(x, dtype=torch.float32), torch.tensor(labels))

    data = TaskData(train=split(24), val=split(24), test=split(10), input_size=3,
                    output_size=2, kind="classification")
    merged = data.validation_in_training()
    chosen = fit_logistic(flat_series(data.train, 6), data.train.y.numpy(), 2,
                          flat_series(data.val, 6), data.val.y).penalty
    in_sample = fit_logistic(flat_series(merged.train, 6), merged.train.y.numpy(), 2,
                             flat_series(merged.val, 6), merged.val.y).penalty
    assert chosen != in_sample  # the merged data's own choice would differ: it sees val twice
    hp = {**default_hparams(), "cell": "gru", "hidden_size": 4, "linear_path": True}
    model = build_model(hp, merged, penalty_from=data).eval()
    expected = fit_logistic(flat_series(merged.train, 6), merged.train.y.numpy(), 2,
                            flat_series(merged.val, 6), merged.val.y, penalties=(chosen,))
    assert expected.penalty == chosen
    with torch.no_grad():
        got = model(data.test.x).double()
    want = torch.from_numpy(flat_series(data.test, 6)) @ expected.weight.T + expected.bias
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_splits_of_different_lengths_are_joined_with_padding_and_lengths() -> None:
    first = SequenceSplit(torch.ones(2, 3, 1), torch.tensor([0, 1]))
    second = SequenceSplit(torch.full((1, 5, 1), 2.0), torch.tensor([1]),
                           torch.tensor([4], dtype=torch.int64))
    joined = first.concat(second)
    assert joined.x.shape == (3, 5, 1) and joined.y.tolist() == [0, 1, 1]
    assert joined.lengths is not None and joined.lengths.tolist() == [3, 3, 4]
    assert joined.x[:2, 3:].abs().sum() == 0 and joined.x[2].eq(2.0).all()
    same = first.concat(first)
    assert same.lengths is None and same.n == 4


def test_the_cli_shows_the_refit_epochs_and_the_stopped_scores() -> None:
    from service.cli._format import refit_lines

    runs = [EvaluationRun(seed=s, status="completed", best_epoch=e, test={"mse": t},
                          refit="completed", refit_epochs=66, stopped_test={"mse": st})
            for s, e, t, st in ((0, 84, 300.0, 410.0), (1, 1, 320.0, 480.0), (2, 66, 310.0, 330.0))]
    [line] = refit_lines(runs, "mse")
    assert "for 66 epochs (the median of those validation chose: 84, 1, 66)" in line
    assert "test_mse [410, 480, 330]" in line
    assert refit_lines([run.model_copy(update={"refit": None}) for run in runs], "mse") == []
