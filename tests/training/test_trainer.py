"""Trainer, training config, optimizers and devices, on real (tiny) torch models."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from service.models import SequenceModel, SequenceModelConfig
from service.tasks import AddingOptions, AddingTask, SequenceSplit, TaskData
from service.training import (
    OPTIMIZERS,
    EpochResult,
    TrainConfig,
    Trainer,
    build_optimizer,
    resolve_device,
)

CPU = torch.device("cpu")


def _adding(seed: int = 0, *, n_train: int = 512) -> TaskData:
    options = AddingOptions(seq_len=10, n_train=n_train, n_val=256, n_test=16)
    return AddingTask().load(options, seed=seed)


def _gru(seed: int = 0, **kwargs: Any) -> SequenceModel:
    torch.manual_seed(seed)
    config = SequenceModelConfig(cell="gru", input_size=2, output_size=1, **kwargs)
    return SequenceModel(config)


def _trainer(model: torch.nn.Module, **config: Any) -> Trainer:
    return Trainer(model, TrainConfig(**config), kind="regression", device=CPU)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gru_learns_the_adding_problem(seed: int) -> None:
    data = _adding(seed)
    trainer = _trainer(_gru(seed, hidden_size=32), max_epochs=10, lr=1e-2, batch_size=32, seed=seed)
    result = trainer.fit(data.train, data.val)
    assert result.status == "completed" and result.message == ""
    assert [e.epoch for e in result.epochs] == list(range(10))
    final = result.epochs[-1].val_metrics
    assert set(final) == {"loss", "mse", "rmse", "mae"}
    # The predict-one baseline is 1/6; a model that learnt nothing sits at about 0.15-0.17.
    assert final["mse"] < 0.05
    assert result.epochs[-1].train_loss < result.epochs[0].train_loss
    assert trainer.evaluate(data.val) == pytest.approx(final)


def test_callback_stops_training() -> None:
    data = _adding(n_train=64)
    seen: list[int] = []

    def stop_after_second(result: EpochResult) -> bool:
        seen.append(result.epoch)
        return result.epoch == 1

    result = _trainer(_gru(hidden_size=8), max_epochs=10).fit(
        data.train, data.val, on_epoch_end=stop_after_second
    )
    assert result.status == "stopped"
    assert seen == [0, 1]
    assert len(result.epochs) == 2


def test_overflowing_loss_is_divergence_not_an_exception() -> None:
    data = _adding(n_train=64)
    huge = SequenceSplit(data.train.x, data.train.y * 1e30)  # its square overflows float32
    result = _trainer(_gru(hidden_size=8), max_epochs=5, grad_clip=None).fit(huge, data.val)
    assert result.status == "diverged"
    assert result.epochs == []
    assert result.message == "training loss became inf at epoch 0 batch 0"


def test_exploding_sgd_is_divergence() -> None:
    data = _adding(n_train=256)
    trainer = _trainer(_gru(hidden_size=8), max_epochs=20, optimizer="sgd", lr=1e6, grad_clip=None)
    result = trainer.fit(data.train, data.val)
    assert result.status == "diverged"
    assert result.message.startswith(("training loss became", "gradient norm became"))
    assert "epoch 0 batch" in result.message


def test_non_finite_validation_loss_is_divergence() -> None:
    data = _adding(n_train=64)
    # Metrics use float64, where no float32 target overflows: an infinite target must show.
    bad_val = SequenceSplit(data.val.x, torch.full_like(data.val.y, float("inf")))
    result = _trainer(_gru(hidden_size=8), max_epochs=5).fit(data.train, bad_val)
    assert result.status == "diverged"
    assert len(result.epochs) == 1
    assert result.message == "validation loss became inf at epoch 0"


def test_grad_norms_are_recorded_per_epoch() -> None:
    data = _adding(n_train=128)
    result = _trainer(_gru(hidden_size=8), max_epochs=3, batch_size=16).fit(data.train, data.val)
    assert len(result.epochs) == 3
    for epoch in result.epochs:
        assert epoch.grad_norm_max >= epoch.grad_norm_mean > 0
        assert epoch.duration_s > 0


def test_recorded_norm_is_before_clipping_and_clipping_applies() -> None:
    data = _adding(n_train=64)
    model = _gru(hidden_size=8)
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    # One full batch, plain SGD with lr 1: the update is exactly the clipped gradient.
    trainer = _trainer(
        model, max_epochs=1, batch_size=64, optimizer="sgd", momentum=0.0, lr=1.0, grad_clip=1e-3
    )
    result = trainer.fit(data.train, data.val)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert result.epochs[0].grad_norm_max > 0.01  # the raw norm, far above the clip value
    assert float((after - before).norm()) == pytest.approx(1e-3, rel=1e-3)


def test_fit_is_deterministic_and_leaves_global_rng_alone() -> None:
    data = _adding(n_train=64)

    def run() -> list[float]:
        model = _gru(3, hidden_size=8, num_layers=2, dropout=0.3)  # dropout draws random masks
        state = torch.get_rng_state()
        result = _trainer(model, max_epochs=2, batch_size=16, seed=5).fit(data.train, data.val)
        assert torch.equal(torch.get_rng_state(), state)
        return [e.train_loss for e in result.epochs] + [e.val_metrics["mse"] for e in result.epochs]

    first, second = run(), run()
    assert first == second


def test_resume_from_state_dict_matches_an_uninterrupted_run() -> None:
    data = _adding(n_train=64)
    options: dict[str, Any] = {"batch_size": 16, "seed": 2, "lr": 1e-2}
    straight = _trainer(_gru(hidden_size=8), max_epochs=4, **options).fit(data.train, data.val)

    first = _trainer(_gru(hidden_size=8), max_epochs=2, **options)
    first.fit(data.train, data.val)
    resumed = _trainer(_gru(1, hidden_size=8), max_epochs=4, **options)
    resumed.load_state_dict(first.state_dict())
    rest = resumed.fit(data.train, data.val)
    assert [e.epoch for e in rest.epochs] == [2, 3]
    assert [e.train_loss for e in rest.epochs] == pytest.approx(
        [e.train_loss for e in straight.epochs[2:]], rel=1e-6
    )


def test_classification_with_variable_lengths() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(96, 6, 3, generator=gen)
    lengths = torch.randint(1, 7, (96,), generator=gen)
    y = (x[:, 0, 0] > 0).long()  # the class is visible at the first step
    split = SequenceSplit(x, y, lengths)
    torch.manual_seed(0)
    config = SequenceModelConfig(cell="lstm", input_size=3, output_size=2, hidden_size=8)
    trainer = Trainer(
        SequenceModel(config),
        TrainConfig(max_epochs=15, lr=2e-2, batch_size=16),
        kind="classification",
        device=CPU,
    )
    result = trainer.fit(split, split)
    assert result.status == "completed"
    metrics = result.epochs[-1].val_metrics
    assert set(metrics) == {"loss", "accuracy", "f1_macro"}
    assert metrics["accuracy"] > 0.8
    assert metrics["loss"] < result.epochs[0].val_metrics["loss"]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_builds_and_steps(name: str) -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 1)
    before = layer.weight.detach().clone()
    optimizer = build_optimizer(name, layer.parameters(), lr=0.1, weight_decay=0.01, momentum=0.5)
    layer(torch.randn(8, 3)).square().mean().backward()
    optimizer.step()
    assert not torch.equal(layer.weight, before)


def test_optimizer_names() -> None:
    assert set(OPTIMIZERS) == {"adam", "adamw", "sgd", "rmsprop", "nadam"}
    with pytest.raises(ValueError, match="'lbfgs'") as info:
        build_optimizer("lbfgs", torch.nn.Linear(1, 1).parameters(), lr=0.1)
    for name in OPTIMIZERS:
        assert name in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"max_epochs": 0}, "max_epochs"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"optimizer": "lbfgs"}, "'lbfgs'.*adam"),
        ({"momentum": 1.0}, "momentum"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"batch_size": 0}, "batch_size"),
        ({"grad_clip": -1.0}, "grad_clip"),
        ({"start_epoch": 6}, "start_epoch"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_train_config(kwargs: dict[str, Any], fragment: str) -> None:
    options: dict[str, Any] = {"max_epochs": 5}
    options.update(kwargs)
    with pytest.raises(ValueError, match=fragment):
        TrainConfig(**options)


def test_resolve_device() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == CPU
    for bad in ("gpu", "", "cuda:x", "CPU", "cuda:99999"):
        with pytest.raises(ValueError, match=repr(bad).replace("(", r"\(")):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available"):
            resolve_device("cuda")
