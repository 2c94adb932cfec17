"""Tasks over users' uploaded data sets: classification, regression or forecasting.

A study names a data set by id (``task: {dataset: 3, ...}``); the store hands the task the
stored bytes and the options given at upload, and the task parses them the same way on every
machine. Splits are seeded and stratified for classification, in time order for forecasting;
normalisation is fitted on the training part only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from ..errors import SpecError
from ._base import Baseline, Task, TaskData, _expect_options
from ._parse_cache import parsed_cache
from ._parsed import (
    DEFAULT_TEST_FRACTION,
    DEFAULT_VAL_FRACTION,
    DatasetFormat,
    ParsedDataset,
    SequenceDataset,
    SeriesDataset,
)
from ._prep import (
    TEST,
    TRAIN,
    VAL,
    carve_split,
    fit_standardizer,
    majority_scores,
    random_split,
    regression_scores,
    split_counts,
    standardize,
    stratified_split,
    to_split,
    windows,
)
from ._season import (
    KNOWN_FREQUENCIES,
    SEASON_FEATURES,
    season_features,
    season_of,
    season_positions,
)
from ._upload import parse_dataset

MAX_WINDOW = 1000
MIN_TRAIN_WINDOWS = 10

_Fraction = Annotated[float, Field(gt=0.0, lt=0.5)]


@dataclass(frozen=True)
class StoredDataset:
    """A data set as stored: its bytes and the parse options given at upload."""

    id: int
    name: str
    format: DatasetFormat
    sha256: str
    content: bytes
    parse_options: Mapping[str, Any] = field(default_factory=dict)


class SequenceDatasetOptions(BaseModel):
    """Options of a classification or regression data set (NPZ).

    With the file's own split, a fraction applies only to a part the split lacks, and is then
    a share of the given training part.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    val_fraction: _Fraction | None = Field(
        default=None, description=f"default {DEFAULT_VAL_FRACTION}; with the file's split only "
        "when it has no 'val' part (then a share of its training part)"
    )
    test_fraction: _Fraction | None = Field(
        default=None, description=f"default {DEFAULT_TEST_FRACTION}; with the file's split only "
        "when it has no 'test' part (then a share of its training part)"
    )
    split_seed: Annotated[int, Field(strict=True, ge=0, le=2**31 - 1)] = 0


class SeriesDatasetOptions(BaseModel):
    """Options of a forecasting data set (CSV): the last rows are the test part."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: Annotated[int, Field(strict=True, ge=1, le=MAX_WINDOW)] = 12
    horizon: Annotated[int, Field(strict=True, ge=1, le=MAX_WINDOW)] = 1
    val_fraction: _Fraction = DEFAULT_VAL_FRACTION
    test_fraction: _Fraction = DEFAULT_TEST_FRACTION


class DatasetTask(Task):
    """A task built from one stored data set; its kind is the data set's."""

    def __init__(self, stored: StoredDataset, *, parsed: ParsedDataset | None = None) -> None:
        self.stored = stored
        options = dict(stored.parse_options)
        how = {name: options.get(name) for name in ("kind", "target", "time_column")}
        # Parsed once per process (and, for large ones, once per machine): see _parse_cache.
        self.data = parsed or parsed_cache().get(
            sha256=stored.sha256, format=stored.format, options=how,
            parse=lambda: parse_dataset(
                stored.content, format=stored.format, **how,
                max_unpacked_bytes=1 << 40,  # checked against the real limit at upload
            ),
        )
        self.name = f"dataset-{stored.id}"
        self.kind = self.data.kind
        self.description = f"data set {stored.id} ({stored.name!r}, {self.kind})"
        self.allows_bidirectional = self.kind != "forecasting"
        self.default_metric = "accuracy" if self.kind == "classification" else "loss"
        if isinstance(self.data, SeriesDataset):
            self.Options = SeriesDatasetOptions
            seasonal = season_of(self.data.frequency) is not None
            self.data_params = ("window", "seasonal_inputs") if seasonal else ("window",)
        else:
            self.Options = SequenceDatasetOptions
            self.data_params = ()

    @property
    def cache_key(self) -> str:
        return f"{self.name}-{self.stored.sha256[:16]}"

    # -- options -------------------------------------------------------------------------

    def validate_options(self, options: BaseModel) -> None:
        if isinstance(self.data, SeriesDataset):
            opts = _expect_options(self, options, SeriesDatasetOptions)
            high = self.data_param_bounds(opts)["window"][1]
            if opts.window > high:
                raise SpecError(
                    f"window {opts.window} with horizon {opts.horizon} leaves fewer than "
                    f"{MIN_TRAIN_WINDOWS} training windows in {self.data.n} rows; the largest "
                    f"window allowed is {max(high, 0)}",
                    loc=("task", "window"),
                )
            return
        seq = _expect_options(self, options, SequenceDatasetOptions)
        if self.data.split is not None:
            carved = self.data.carved_parts
            for part in ("val", "test"):
                key = f"{part}_fraction"
                if getattr(seq, key) is not None and part not in carved:
                    raise SpecError(
                        f"data set {self.stored.id} brings its own {part!r} part; {key} does "
                        "not apply (it applies only to a part the file's split lacks)",
                        loc=("task", key),
                    )
            if not carved:
                return
        try:
            self._codes(seq)
        except ValueError as exc:
            raise SpecError(
                f"{exc}: lower val_fraction/test_fraction or add samples",
                loc=("task", "val_fraction"),
            ) from None

    def data_param_bounds(self, options: BaseModel) -> dict[str, tuple[int, int]]:
        if not isinstance(self.data, SeriesDataset):
            return {}
        opts = _expect_options(self, options, SeriesDatasetOptions)
        val_start, _ = self._series_bounds(opts)
        return {"window": (1, min(MAX_WINDOW, val_start - opts.horizon + 1 - MIN_TRAIN_WINDOWS))}

    def season_problem(self, options: BaseModel) -> str | None:
        return self._season_problem()

    def _season_problem(self) -> str | None:
        # The season comes from the data alone; no option changes it.
        data = self.data
        if not isinstance(data, SeriesDataset):
            return f"data set {self.stored.id} is {self.kind} data, not a time series"
        if data.time_column is None:
            return (f"data set {self.stored.id} has no time column; upload it with one "
                    "(--time-column) to read the season from it")
        if season_of(data.frequency) is None:
            return (f"data set {self.stored.id}'s time column {data.time_column!r} is "
                    f"{data.frequency}; a season is read from {', '.join(KNOWN_FREQUENCIES)} "
                    "times")
        return None

    # -- data ----------------------------------------------------------------------------

    def _codes(self, opts: SequenceDatasetOptions) -> np.ndarray:
        data = self.data
        assert isinstance(data, SequenceDataset)
        fractions = {
            "val_fraction": opts.val_fraction or DEFAULT_VAL_FRACTION,
            "test_fraction": opts.test_fraction or DEFAULT_TEST_FRACTION,
        }
        if data.split is not None:
            if not data.carved_parts:
                return data.split
            labels = data.y if data.kind == "classification" else None
            return carve_split(data.split, labels, **fractions, seed=opts.split_seed)
        if data.kind == "classification":
            return stratified_split(data.y, **fractions, seed=opts.split_seed)
        return random_split(data.n, **fractions, seed=opts.split_seed)

    def _series_bounds(self, opts: SeriesDatasetOptions) -> tuple[int, int]:
        """First validation row and first test row."""
        n_val, n_test = split_counts(self.data.n, val_fraction=opts.val_fraction,
                                     test_fraction=opts.test_fraction)
        test_start = self.data.n - n_test
        return test_start - n_val, test_start

    def load(
        self, options: BaseModel, *, seed: int, hparams: Mapping[str, Any] | None = None
    ) -> TaskData:
        """The splits; ``split_seed`` (not ``seed``) draws them, so every seed sees the same."""
        if isinstance(self.data, SeriesDataset):
            return self._load_series(_expect_options(self, options, SeriesDatasetOptions),
                                     hparams or {})
        opts = _expect_options(self, options, SequenceDatasetOptions)
        data = self.data
        codes = self._codes(opts)
        train = codes == TRAIN
        lengths = data.lengths
        mean, std = fit_standardizer(data.x[train], None if lengths is None else lengths[train])
        x = standardize(data.x, lengths, mean, std)
        y: np.ndarray = data.y
        scale = None
        prep: dict[str, Any] = {"layout": "sequences",
                                "input": {"mean": mean.tolist(), "std": std.tolist()}}
        if data.kind == "regression":
            y_mean, y_std = data.y[train].mean(axis=0), data.y[train].std(axis=0)
            y_std[~(y_std > 1e-12)] = 1.0
            y = ((data.y - y_mean) / y_std).astype(np.float32)
            scale = torch.from_numpy(y_std.astype(np.float32))
            prep["target"] = {"mean": y_mean.astype(np.float64).tolist(),
                              "std": y_std.astype(np.float64).tolist()}
        else:
            prep["classes"] = data.label_values  # predictions come back in the upload's type

        def part(code: int) -> Any:
            rows = codes == code
            return to_split(x[rows], y[rows], None if lengths is None else lengths[rows])

        return TaskData(
            train=part(TRAIN), val=part(VAL), test=part(TEST),
            input_size=int(data.x.shape[2]),
            output_size=len(data.classes) if data.kind == "classification" else data.y.shape[1],
            kind=data.kind, target_scale=scale,
            info={name: int((codes == code).sum())
                  for code, name in ((TRAIN, "n_train"), (VAL, "n_val"), (TEST, "n_test"))},
            preprocessing=prep,
        )

    def _load_series(self, opts: SeriesDatasetOptions, hparams: Mapping[str, Any]) -> TaskData:
        data = self.data
        assert isinstance(data, SeriesDataset)
        window = int(hparams.get("window") or opts.window)
        low, high = self.data_param_bounds(opts)["window"]
        if not low <= window <= high:
            raise ValueError(f"window must lie in [{low}, {high}], got {window}")
        val_start, test_start = self._series_bounds(opts)
        fit = data.values[:val_start]
        mean, std = fit.mean(axis=0), fit.std(axis=0)
        std[~(std > 1e-12)] = 1.0
        scaled = (data.values - mean) / std
        target = scaled[:, data.target]
        inputs, season = scaled, None
        if hparams.get("seasonal_inputs"):
            inputs, season = self._with_season(scaled)
            # The season inputs are already in [-1, 1]: the model file leaves them as they are.
            mean = np.concatenate([mean, np.zeros(len(SEASON_FEATURES))])
            std = np.concatenate([std, np.ones(len(SEASON_FEATURES))])
        first = window + opts.horizon - 1
        shape = {"window": window, "horizon": opts.horizon}
        prep: dict[str, Any] = {
            "layout": "series", "window": window, "horizon": opts.horizon,
            "columns": list(data.columns), "target_column": data.columns[data.target],
            "input": {"mean": mean.tolist(), "std": std.tolist()},
            "target": {"mean": [float(mean[data.target])], "std": [float(std[data.target])]},
        }
        if season is not None:
            prep["season"] = season
        return TaskData(
            train=windows(inputs, target, np.arange(first, val_start), **shape),
            val=windows(inputs, target, np.arange(val_start, test_start), **shape),
            test=windows(inputs, target, np.arange(test_start, data.n), **shape),
            input_size=int(inputs.shape[1]),
            output_size=1,
            kind="forecasting",
            target_scale=torch.tensor([std[data.target]], dtype=torch.float32),
            info={"window": window, "horizon": opts.horizon, "train_rows": [first, val_start - 1],
                  "val_rows": [val_start, test_start - 1], "test_rows": [test_start, data.n - 1]},
            preprocessing=prep,
        )

    def _with_season(self, scaled: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """The scaled series with the season's sin and cos appended, and how a model file
        rebuilds them from the time column."""
        data = self.data
        assert isinstance(data, SeriesDataset)
        problem = self._season_problem()
        season = season_of(data.frequency)
        if problem is not None or season is None or data.time is None:
            raise ValueError(f"seasonal_inputs cannot apply: {problem}")
        assert data.time_column is not None
        positions = season_positions(data.time, season, data.time_column)
        features = season_features(positions, season.length)
        return np.concatenate([scaled, features], axis=1), {
            "unit": season.unit, "length": season.length, "time_column": data.time_column,
            "features": list(SEASON_FEATURES),
        }

    # -- baselines -----------------------------------------------------------------------

    def baselines(self, options: BaseModel) -> dict[str, Baseline]:
        """Majority class, training mean, or naive last value, by kind."""
        data = self.data
        if isinstance(data, SeriesDataset):
            opts = _expect_options(self, options, SeriesDatasetOptions)
            val_start, test_start = self._series_bounds(opts)
            column = data.values[:, data.target]

            def naive(rows: np.ndarray) -> dict[str, float]:
                return regression_scores(column[rows - opts.horizon], column[rows])

            val = naive(np.arange(val_start, test_start))
            test = naive(np.arange(test_start, data.n))
            return _baselines("naive_last_value", "predict the last observed value", val, test)
        codes = self._codes(_expect_options(self, options, SequenceDatasetOptions))
        train_y = data.y[codes == TRAIN]
        if data.kind == "classification":
            n_classes = len(data.classes)
            val = majority_scores(train_y, data.y[codes == VAL], n_classes)
            test = majority_scores(train_y, data.y[codes == TEST], n_classes)
            return _baselines("majority_class", "always predict the most frequent training "
                              "class", val, test)
        mean = train_y.mean(axis=0)

        def constant(code: int) -> dict[str, float]:
            truth = data.y[codes == code]
            return regression_scores(np.broadcast_to(mean, truth.shape), truth)

        return _baselines("train_mean", "always predict the training mean", constant(VAL),
                          constant(TEST))


def _baselines(
    name: str, description: str, val: dict[str, float], test: dict[str, float]
) -> dict[str, Baseline]:
    return {
        metric: Baseline(name=name, metric=metric, value=val[metric], description=description,
                         test_value=test[metric])
        for metric in val
    }
