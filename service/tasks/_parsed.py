"""What a parsed data file holds: padded sequences (NPZ) or a time series (CSV)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ._base import TaskKind
from ._prep import SPLIT_NAMES

DatasetFormat = Literal["npz", "csv"]

MIN_SAMPLES = 10
MIN_ROWS = 20
# With the default 15 % validation and 15 % test shares, a class needs 3 samples to reach
# every split at least once.
DEFAULT_VAL_FRACTION = 0.15
DEFAULT_TEST_FRACTION = 0.15
MAX_CLASSES = 1000
MAX_COLUMNS = 1000


@dataclass(frozen=True)
class SequenceDataset:
    """An NPZ data set: padded sequences with labels or targets.

    ``x`` is float32 (N, T, F) with zeros past each length; ``lengths`` int64 (N,) or None when
    every sequence is full; ``y`` int64 class indices (N,) or float32 targets (N, K);
    ``classes`` the original labels in index order (as text; ``label_type`` says whether
    they were uploaded as integers); ``split`` codes (0 train, 1 val, 2 test) when the file
    brings its own split, where a missing val or test part is carved from the training part
    (:attr:`carved_parts`).
    """

    kind: TaskKind
    x: np.ndarray
    lengths: np.ndarray | None
    y: np.ndarray
    classes: list[str] = field(default_factory=list)
    split: np.ndarray | None = None
    format: DatasetFormat = "npz"
    label_type: Literal["int", "str"] = "str"

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def label_values(self) -> list[int | str]:
        """The class labels in index order, in the type they were uploaded in."""
        if self.label_type == "int":
            return [int(label) for label in self.classes]
        return list(self.classes)

    @property
    def carved_parts(self) -> list[str]:
        """The parts (val, test) the file's own split lacks, carved from its training part."""
        if self.split is None:
            return []
        return [name for code, name in enumerate(SPLIT_NAMES)
                if code != 0 and not (self.split == code).any()]

    def meta(self) -> dict[str, Any]:
        lengths = self.lengths if self.lengths is not None else np.full(self.n, self.x.shape[1])
        meta: dict[str, Any] = {
            "n_samples": self.n,
            "n_features": int(self.x.shape[2]),
            "max_length": int(self.x.shape[1]),
            "min_length": int(lengths.min()),
            "variable_length": self.lengths is not None,
            "own_split": self.split is not None,
        }
        if self.kind == "classification":
            counts = np.bincount(self.y, minlength=len(self.classes))
            meta["classes"] = {label: int(c) for label, c in zip(self.classes, counts, strict=True)}
            meta["label_type"] = "integer" if self.label_type == "int" else "string"
        else:
            meta["n_targets"] = int(self.y.shape[1])
        if self.split is not None:
            meta["split_sizes"] = {
                name: int((self.split == code).sum()) for code, name in enumerate(SPLIT_NAMES)
            }
        by_class = ", stratified by class" if self.kind == "classification" else ""
        carved = {
            name: f"carved from the given training part: {name}_fraction (default "
            f"{DEFAULT_VAL_FRACTION if name == 'val' else DEFAULT_TEST_FRACTION}) of it"
            f"{by_class}, drawn with split_seed (default 0)"
            for name in self.carved_parts
        }
        if carved:
            meta["carved"] = carved
        return meta


@dataclass(frozen=True)
class SeriesDataset:
    """A CSV time series: rows in time order, numeric value columns, one of them the target."""

    columns: list[str]
    values: np.ndarray  # float64 (rows, columns)
    target: int
    time_column: str | None = None
    time: list[str] | None = None
    frequency: str | None = None  # e.g. "monthly", "step 1", "irregular (most often daily)"
    kind: TaskKind = "forecasting"
    format: DatasetFormat = "csv"

    @property
    def n(self) -> int:
        return int(self.values.shape[0])

    def meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "n_rows": self.n,
            "columns": self.columns,
            "target": self.columns[self.target],
            "time_column": self.time_column,
            # Every value column is an input; the target is also what is forecast.
            "covariates": [c for i, c in enumerate(self.columns) if i != self.target],
        }
        if self.time:
            meta["time_range"] = [self.time[0], self.time[-1]]
            meta["frequency"] = self.frequency
        return meta


ParsedDataset = SequenceDataset | SeriesDataset
