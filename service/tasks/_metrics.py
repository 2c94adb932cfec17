"""Evaluation metrics per task kind, computed with torch alone."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._base import TaskKind


def compute_metrics(kind: TaskKind, output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Compute every metric of ``kind`` for a whole split.

    For regression and forecasting ``output`` and ``target`` are float tensors of the same shape
    and ``loss`` is the MSE. For classification ``output`` holds logits (N, C), ``target`` class
    indices (N,), ``loss`` is the mean cross-entropy, and ``f1_macro`` averages F1 over the
    classes that occur in the targets or the predictions (as scikit-learn does).
    """
    if output.shape[0] == 0:
        raise ValueError("cannot compute metrics of an empty split")
    if kind == "classification":
        return _classification_metrics(output, target)
    if kind in ("regression", "forecasting"):
        return _regression_metrics(output, target)
    raise ValueError(
        f"unknown task kind {kind!r}; valid kinds are: classification, forecasting, regression"
    )


def _regression_metrics(output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    if output.shape != target.shape:
        raise ValueError(
            f"output shape {tuple(output.shape)} differs from target shape {tuple(target.shape)}"
        )
    # Float64 keeps sums over large splits exact enough; AMP outputs may be half precision.
    diff = output.detach().double() - target.detach().double()
    mse = float(diff.square().mean())
    mae = float(diff.abs().mean())
    return {"loss": mse, "mse": mse, "rmse": math.sqrt(mse), "mae": mae}


def _classification_metrics(logits: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    if logits.ndim != 2 or target.shape != logits.shape[:1]:
        raise ValueError(
            f"expected logits (N, C) and targets (N,), got {tuple(logits.shape)} "
            f"and {tuple(target.shape)}"
        )
    logits = logits.detach().float()
    target = target.detach().long()
    n_classes = logits.shape[1]
    loss = float(F.cross_entropy(logits, target))
    pred = logits.argmax(dim=1)
    accuracy = float((pred == target).double().mean())
    # Confusion matrix: rows are true classes, columns predicted ones.
    confusion = torch.bincount(target * n_classes + pred, minlength=n_classes * n_classes)
    confusion = confusion.reshape(n_classes, n_classes).double()
    tp = confusion.diagonal()
    fp = confusion.sum(dim=0) - tp
    fn = confusion.sum(dim=1) - tp
    denom = 2 * tp + fp + fn
    present = denom > 0
    f1 = float((2 * tp[present] / denom[present]).mean()) if bool(present.any()) else 0.0
    return {"loss": loss, "accuracy": accuracy, "f1_macro": f1}
