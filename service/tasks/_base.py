"""The task interface: data splits, task data, baselines and the abstract ``Task``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

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

    def concat(self, other: SequenceSplit) -> SequenceSplit:
        """This split's sequences followed by ``other``'s; the shorter steps are padded at the
        end (zeros) and lengths keep each sequence's own."""
        steps = max(self.x.shape[1], other.x.shape[1])
        if self.lengths is None and other.lengths is None and self.x.shape[1] == steps == \
                other.x.shape[1]:
            return SequenceSplit(torch.cat([self.x, other.x]), torch.cat([self.y, other.y]))
        return SequenceSplit(
            torch.cat([_pad_steps(self.x, steps), _pad_steps(other.x, steps)]),
            torch.cat([self.y, other.y]),
            torch.cat([self.lengths_or_full(), other.lengths_or_full()]),
        )

    def lengths_or_full(self) -> torch.Tensor:
        """Each sequence's length: ``lengths``, or every step when it is None."""
        if self.lengths is not None:
            return self.lengths
        return torch.full((self.n,), self.x.shape[1], dtype=torch.int64, device=self.x.device)


def _pad_steps(x: torch.Tensor, steps: int) -> torch.Tensor:
    return torch.nn.functional.pad(x, (0, 0, 0, steps - x.shape[1]))


@dataclass(frozen=True)
class TaskData:
    """The three splits of a task plus the sizes a model needs.

    ``target_scale`` (output_size,) is set when regression or forecasting targets were
    standardised with statistics of the training part: errors are multiplied by it so that
    every metric is reported in the data's own units. ``info`` describes the splits.
    ``preprocessing`` is what turns new raw input into the model's input and its output back
    into the data's units and labels (plain numbers, strings, lists and dicts; see
    ``service.models.load_model``).
    """

    train: SequenceSplit
    val: SequenceSplit
    test: SequenceSplit
    input_size: int
    output_size: int  # number of classes for classification
    kind: TaskKind
    target_scale: torch.Tensor | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    preprocessing: Mapping[str, Any] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> TaskData:
        """Return the task data with every split on ``device``."""
        scale = None if self.target_scale is None else self.target_scale.to(device)
        return TaskData(
            train=self.train.to(device), val=self.val.to(device), test=self.test.to(device),
            input_size=self.input_size, output_size=self.output_size, kind=self.kind,
            target_scale=scale, info=self.info, preprocessing=self.preprocessing,
        )

    def validation_in_training(self) -> TaskData:
        """The splits a final refit trains on: the validation sequences added to the training
        ones. ``val`` stays (the trainer reports it, in-sample now); the preprocessing fitted
        on the training part stays too, so the model reads input as every trial did."""
        return TaskData(
            train=self.train.concat(self.val), val=self.val, test=self.test,
            input_size=self.input_size, output_size=self.output_size, kind=self.kind,
            target_scale=self.target_scale, info={**self.info, "validation_in_training": True},
            preprocessing=self.preprocessing,
        )


@dataclass(frozen=True)
class Baseline:
    """A reference score, shown beside a study's best value.

    ``value`` is on the validation split (beside the best trial's value), ``test_value`` on the
    test split (beside the final evaluation); either is None where it is not known.
    """

    name: str
    metric: str
    value: float | None
    description: str
    test_value: float | None = None


class Task(ABC):
    """A task: options, deterministic data, metrics and reference baselines.

    Subclasses set the class attributes and implement :meth:`load` and :meth:`baselines`.
    ``Options`` is a pydantic model with ``extra="forbid"`` whose defaults give a usable task.
    A task built from a user's data set sets these attributes per instance.
    """

    name: str
    kind: TaskKind
    description: str
    allows_bidirectional: bool
    Options: type[BaseModel]
    default_metric: str = "loss"
    # Hyperparameters that change the data itself (a forecasting window), passed to load().
    data_params: tuple[str, ...] = ()

    @abstractmethod
    def load(
        self, options: BaseModel, *, seed: int, hparams: Mapping[str, Any] | None = None
    ) -> TaskData:
        """Build the task's splits; the same options, seed and hparams give the same tensors.

        ``hparams`` carries the values of :attr:`data_params` a trial chose (missing or None:
        the option's value).
        """

    @abstractmethod
    def baselines(self, options: BaseModel) -> dict[str, Baseline]:
        """Return the trivial baseline of each metric, keyed by metric name."""

    def reference_baselines(self, options: BaseModel) -> list[Baseline]:
        """Stronger published or fitted references (AR(9), 1-NN DTW) to show beside the
        trivial baseline; none by default."""
        return []

    def validate_options(self, options: BaseModel) -> None:
        """Check options against the data (enough samples per split); ``SpecError`` if not."""
        return None

    def data_param_bounds(self, options: BaseModel) -> dict[str, tuple[int, int]]:
        """Legal range of each of :attr:`data_params` under ``options``."""
        return {}

    def season_problem(self, options: BaseModel) -> str | None:
        """Why the ``seasonal_inputs`` hyperparameter cannot apply to this task's data, or
        None when it can (a task that offers it lists it in :attr:`data_params`)."""
        if self.kind != "forecasting":
            return f"task {self.name!r} is not a forecasting task"
        return f"task {self.name!r} has no time column that gives a season"

    @property
    def cache_key(self) -> str:
        """Identifies the data: the same key, options and seed give the same splits."""
        return self.name

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
