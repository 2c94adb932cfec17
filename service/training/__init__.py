"""Plain PyTorch training: configuration, optimizers by name, devices and the ``Trainer``."""

from ._config import OptimizerName, TrainConfig
from ._device import resolve_device
from ._optim import OPTIMIZERS, build_optimizer
from ._trainer import EpochCallback, EpochResult, Trainer, TrainResult, TrainStatus

__all__ = [
    "OPTIMIZERS",
    "EpochCallback",
    "EpochResult",
    "OptimizerName",
    "TrainConfig",
    "TrainResult",
    "TrainStatus",
    "Trainer",
    "build_optimizer",
    "resolve_device",
]
