"""Metrics against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from service.tasks import compute_metrics, metric_direction, metric_names


@pytest.mark.parametrize("kind", ["regression", "forecasting"])
def test_regression_metrics(kind: str) -> None:
    output = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    target = torch.tensor([[1.0], [1.0], [1.0], [2.0]])
    # Errors are 0, 1, 2, 2.
    metrics = compute_metrics(kind, output, target)  # type: ignore[arg-type]
    assert metrics == pytest.approx({"loss": 2.25, "mse": 2.25, "rmse": 1.5, "mae": 1.25})


def test_regression_metrics_average_over_every_output() -> None:
    output = torch.tensor([[0.0, 3.0]])
    target = torch.tensor([[1.0, 0.0]])
    metrics = compute_metrics("regression", output, target)
    assert metrics["mse"] == pytest.approx(5.0)
    assert metrics["mae"] == pytest.approx(2.0)


def _one_hot_logits(pred: list[int], n_classes: int) -> torch.Tensor:
    return 2.0 * torch.nn.functional.one_hot(torch.tensor(pred), n_classes).float()


def test_classification_metrics() -> None:
    target = torch.tensor([0, 0, 1, 1, 2, 2])
    logits = _one_hot_logits([0, 1, 1, 1, 2, 0], 3)
    metrics = compute_metrics("classification", logits, target)
    # Per class F1 = 2TP / (2TP + FP + FN): class 0: 2/4, class 1: 4/5, class 2: 2/3.
    f1 = (0.5 + 0.8 + 2 / 3) / 3
    # Logits are 2 for the predicted class, 0 elsewhere: right -> -log(e^2 / (e^2 + 2)).
    z = math.log(math.exp(2) + 2)
    loss = (4 * (z - 2) + 2 * z) / 6
    assert metrics == pytest.approx({"loss": loss, "accuracy": 4 / 6, "f1_macro": f1})


def test_f1_macro_ignores_classes_never_seen_nor_predicted() -> None:
    target = torch.tensor([0, 0, 1, 1, 2, 2])
    logits = _one_hot_logits([0, 1, 1, 1, 2, 0], 5)
    assert compute_metrics("classification", logits, target)["f1_macro"] == pytest.approx(
        (0.5 + 0.8 + 2 / 3) / 3
    )


def test_f1_macro_counts_a_class_predicted_but_absent() -> None:
    target = torch.tensor([0, 0, 0, 0])
    logits = _one_hot_logits([0, 0, 0, 1], 2)
    # Class 0: TP 3, FN 1 -> 6/7; class 1: only a false positive -> 0.
    assert compute_metrics("classification", logits, target)["f1_macro"] == pytest.approx(3 / 7)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="empty"):
        compute_metrics("regression", torch.zeros(0, 1), torch.zeros(0, 1))
    with pytest.raises(ValueError, match="shape"):
        compute_metrics("regression", torch.zeros(3, 1), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="ranking"):
        compute_metrics("ranking", torch.zeros(3, 1), torch.zeros(3, 1))  # type: ignore[arg-type]


def test_names_and_directions() -> None:
    assert metric_names("regression") == ("loss", "mse", "rmse", "mae")
    assert metric_names("forecasting") == ("loss", "mse", "rmse", "mae")
    assert metric_names("classification") == ("loss", "accuracy", "f1_macro")
    assert metric_direction("accuracy") == "maximize"
    assert metric_direction("f1_macro") == "maximize"
    assert metric_direction("loss") == "minimize"
    assert metric_direction("rmse") == "minimize"
