"""The linear model a forecaster starts from: its AR highway fitted by least squares.

A recurrent forecaster with an AR highway (LSTNet) starts from a fitted AR model with a zero
recurrent head, so it learns what the linear model misses and never starts worse. Which AR
model matters: a fixed order can start far from the AR(p) baseline the study is compared with
(on sunspots, fitted on 1700-1890, AR(24) scores 367 on the test years and AR(9) 309). So the
order is chosen the way the baseline chooses its own: the one of 1 to ``highway`` (at most the
window) with the lowest error on the validation split.
"""

from __future__ import annotations

import torch

from service.models import SequenceModelConfig
from service.tasks import SequenceSplit, TaskData

__all__ = ["fit_highway"]


def fit_highway(data: TaskData, config: SequenceModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """``(output_size, highway)`` weights (oldest step first; steps older than the chosen
    order at zero) and the ``(output_size,)`` intercept of the start.

    With ``residual`` the model adds the last value back itself, so the weight on it is one
    less: the same forecasts as the fitted AR model.
    """
    train_lags, train_y = _design(data.train, config)
    val_lags, val_y = _design(data.val, config)
    usable = max(1, min(config.highway, int(data.train.x.shape[1])))
    best: tuple[float, int, torch.Tensor] | None = None
    for order in range(1, usable + 1):
        coef = _least_squares(train_lags[:, -order:], train_y)
        if val_lags.shape[0] == 0:  # no validation windows to choose on: the longest order
            best = (0.0, order, coef)
            continue
        error = float(((_affine(val_lags[:, -order:], coef) - val_y) ** 2).mean())
        if best is None or error < best[0]:
            best = (error, order, coef)
    assert best is not None  # usable >= 1
    _, order, coef = best
    weight = torch.zeros(config.output_size, config.highway, dtype=torch.float64)
    weight[:, config.highway - order:] = coef[:-1].T
    if config.residual:
        weight[:, -1] -= 1.0
    return weight.float(), coef[-1].float()


def _design(split: SequenceSplit, config: SequenceModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The target's last ``highway`` steps of each window, oldest first (zeros before a
    shorter window's start), and the targets; float64 on the CPU."""
    past = split.x[:, :, config.target_index].double().cpu()
    lags = past[:, max(0, past.shape[1] - config.highway):]
    if lags.shape[1] < config.highway:
        lags = torch.cat([lags.new_zeros(lags.shape[0], config.highway - lags.shape[1]), lags], 1)
    return lags, split.y.double().cpu()


def _least_squares(lags: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(order + 1, outputs)``: the lags' weights, oldest first, then the intercept."""
    design = torch.cat([lags, torch.ones(lags.shape[0], 1, dtype=torch.float64)], dim=1)
    solution: torch.Tensor = torch.linalg.lstsq(design, target).solution
    return solution


def _affine(lags: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    return lags @ coef[:-1] + coef[-1]
