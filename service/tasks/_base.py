"""The task interface: data splits, task data, baselines and the abstract ``Task``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeVar

import torch
from pydantic import BaseModel

from ..errors import UnknownNameError

TaskKind = Literal["regression", "classification", "forecasting"]
MetricDirection = Literal["minimize", "maximize"]

_REGRESSION_METRICS = ("loss", "mse", "rmse", "mae")
_CLASSIFICATION_METRICS = ("loss", "accuracy", "f1_macro")
_MAXIMIZED = frozenset({"accuracy", "f1_macro"})
_KINDS = ("classification", "forecasting", "regression")

_OptionsT = TypeVar("_OptionsT", bound=BaseModel)


def metric_names(kind: TaskKind) -> tuple[str, ...]:
    """Return the metrics reported for a task of ``kind``, ``"loss"`` first."""
    if kind == "classification":
        return _CLASSIFICATION_METRICS
    if kind in ("regression", "forecasting"):
        return _REGRESSION_METRICS
    raise ValueError(f"unknown task kind {kind!r}; valid kinds are: {', '.join(_KINDS)}")


def metric_direction(metric: str) -> MetricDirection:
    """Return whether ``metric`` is better when smaller (losses, errors) or larger."""
    return "maximize" if metric in _MAXIMIZED else "minimize"


@dataclass(frozen=True)
class SequenceSplit:
    """One split of a sequence data set, batch first.

    ``x`` is float32 (N, T, F). ``y`` is float32 (N, output_size) for regression and
    forecasting, int64 (N,) for classification. ``lengths`` is int64 (N,) with values in
    [1, T] for variable-length sequences padded to T; ``None`` means every sequence is full.
    """

    x: torch.Tensor
    y: torch.Tensor
    lengths: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.x.ndim != 3:
            raise ValueError(f"x must be (N, T, F), got shape {tuple(self.x.shape)}")
        n, t = self.x.shape[0], self.x.shape[1]
        if self.y.shape[:1] != (n,):
            raise ValueError(f"y has {self.y.shape[0] if self.y.ndim else 0} rows, x has {n}")
        if self.lengths is not None:
            if self.lengths.shape != (n,) or self.lengths.dtype != torch.int64:
                raise ValueError(
                    f"lengths must be int64 of shape ({n},), got {self.lengths.dtype} "
                    f"{tuple(self.lengths.shape)}"
                )
            # Checked once here so that the model need not check every batch.
            if n and (int(self.lengths.min()) < 1 or int(self.lengths.max()) > t):
                raise ValueError(
                    f"lengths must lie in [1, {t}], got [{int(self.lengths.min())}, "
                    f"{int(self.lengths.max())}]"
                )

    @property
    def n(self) -> int:
        """Number of sequences."""
        return int(self.x.shape[0])

    def to(self, device: torch.device | str) -> SequenceSplit:
        """Return the split with every tensor on ``device`` (itself when already there)."""
        device = torch.device(device)
        lengths_there = self.lengths is None or self.lengths.device == device
        if self.x.device == device and self.y.device == device and lengths_there:
            return self
        lengths = None if self.lengths is None else self.lengths.to(device)
        return SequenceSplit(self.x.to(device), self.y.to(device), lengths)


@dataclass(frozen=True)
class TaskData:
    """The three splits of a task plus the sizes a model needs."""

    train: SequenceSplit
    val: SequenceSplit
    test: SequenceSplit
    input_size: int
    output_size: int  # number of classes for classification
    kind: TaskKind


@dataclass(frozen=True)
class Baseline:
    """A trivial reference score, shown beside a study's best value."""

    name: str
    metric: str
    value: float
    description: str


class Task(ABC):
    """A built-in task: options, deterministic data, metrics and trivial baselines.

    Subclasses set the class attributes and implement :meth:`load` and :meth:`baselines`.
    ``Options`` is a pydantic model with ``extra="forbid"`` whose defaults give a usable task.
    """

    name: ClassVar[str]
    kind: ClassVar[TaskKind]
    description: ClassVar[str]
    allows_bidirectional: ClassVar[bool]
    Options: ClassVar[type[BaseModel]]
    default_metric: ClassVar[str] = "loss"

    @abstractmethod
    def load(self, options: BaseModel, *, seed: int) -> TaskData:
        """Build the task's splits; the same options and seed give the same tensors."""

    @abstractmethod
    def baselines(self, options: BaseModel) -> dict[str, Baseline]:
        """Return the trivial baselines keyed by metric name."""

    def metrics(self) -> tuple[str, ...]:
        """Return the metrics this task reports, ``"loss"`` first."""
        return metric_names(self.kind)

    def metric_direction(self, metric: str) -> MetricDirection:
        """Return the direction of ``metric``; :class:`UnknownNameError` if the task lacks it."""
        if metric not in self.metrics():
            raise UnknownNameError("metric", metric, self.metrics())
        return metric_direction(metric)


def _expect_options(task: Task, options: BaseModel, cls: type[_OptionsT]) -> _OptionsT:
    # Options of another task would otherwise fail later with an obscure attribute error.
    if not isinstance(options, cls):
        raise TypeError(
            f"task {task.name!r} expects {cls.__name__} options, got {type(options).__name__}"
        )
    return options
