"""Training configuration, validated on construction."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ._optim import OPTIMIZERS

OptimizerName = Literal["adam", "adamw", "sgd", "rmsprop", "nadam"]


@dataclass(frozen=True)
class TrainConfig:
    """How :class:`Trainer` trains.

    ``grad_clip`` is the maximum global gradient norm (``None`` or 0: no clipping). ``amp``
    turns on autocast and gradient scaling, on CUDA only. ``start_epoch`` is the first epoch to
    run when resuming; epochs are numbered from 0 and run up to ``max_epochs - 1``.
    ``eval_batch_size`` bounds memory during evaluation only.
    """

    max_epochs: int
    lr: float = 1e-3
    optimizer: OptimizerName = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 64
    grad_clip: float | None = 1.0
    seed: int = 0
    amp: bool = False
    start_epoch: int = 0
    eval_batch_size: int = 4096

    def __post_init__(self) -> None:
        for field in ("max_epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if isinstance(self.start_epoch, bool) or not isinstance(self.start_epoch, int):
            raise ValueError(f"start_epoch must be an integer, got {self.start_epoch!r}")
        if not 0 <= self.start_epoch <= self.max_epochs:
            raise ValueError(
                f"start_epoch must lie in [0, max_epochs={self.max_epochs}], got {self.start_epoch}"
            )
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {self.optimizer!r}; valid optimizers are: "
                f"{', '.join(OPTIMIZERS)}"
            )
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.grad_clip is not None and not (
            math.isfinite(self.grad_clip) and self.grad_clip >= 0
        ):
            raise ValueError(f"grad_clip must be None or >= 0, got {self.grad_clip!r}")
        if not isinstance(self.amp, bool):
            raise ValueError(f"amp must be a bool, got {self.amp!r}")
