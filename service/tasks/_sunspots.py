"""Yearly sunspot numbers: one-step-ahead forecasting on the classic split.

Train on 1700-1920 and test on 1921-1987 (Tong 1990 and many since). The last ``val_years`` of
the training years are held out for validation, in time order, and the normalisation is fitted
on the years before them. Each sample is the ``window`` years before a target year.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from ..errors import SpecError
from ._base import Baseline, Task, TaskData, _expect_options
from ._prep import fit_ar, predict_ar, regression_scores, windows

FIRST_YEAR = 1700
TRAIN_END = 1920  # last training year (validation years included)
TEST_YEARS = (1921, 1987)
AR_ORDER = 9
MAX_WINDOW = 100
# A window so long that fewer training samples than this remain is refused.
MIN_TRAIN_WINDOWS = 50


class SunspotsOptions(BaseModel):
    """Options of the sunspots task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: Annotated[int, Field(strict=True, ge=1, le=MAX_WINDOW)] = 12
    val_years: Annotated[int, Field(strict=True, ge=10, le=60)] = 30


@lru_cache(maxsize=1)
def load_sunspots() -> tuple[np.ndarray, np.ndarray]:
    """Years and yearly mean sunspot numbers, 1700-2008, from the shipped CSV."""
    text = resources.files("service.tasks").joinpath("data/sunspots.csv").read_text("utf-8")
    rows = list(csv.reader(text.splitlines()))[1:]
    years = np.array([int(float(r[0])) for r in rows], dtype=np.int64)
    values = np.array([float(r[1]) for r in rows], dtype=np.float64)
    if not (np.diff(years) == 1).all() or years[0] != FIRST_YEAR:
        raise RuntimeError("sunspots.csv is not one row per year from 1700")
    return years, values


def _rows(first_year: int, last_year: int) -> np.ndarray:
    return np.arange(first_year - FIRST_YEAR, last_year - FIRST_YEAR + 1)


class SunspotsTask(Task):
    """Forecast next year's sunspot number from the ``window`` years before it."""

    name = "sunspots"
    kind = "forecasting"
    description = (
        "Yearly sunspot numbers, one step ahead: train 1700-1920 (the last val_years held out "
        "for validation), test 1921-1987. AR(9) on the training years reaches test MSE 305.2."
    )
    # Forecasters stay causal; the window is all past, but a streaming model reads forwards.
    allows_bidirectional = False
    Options = SunspotsOptions
    data_params = ("window",)

    def data_param_bounds(self, options: BaseModel) -> dict[str, tuple[int, int]]:
        opts = _expect_options(self, options, SunspotsOptions)
        train_rows = TRAIN_END - opts.val_years - FIRST_YEAR + 1
        return {"window": (1, min(MAX_WINDOW, train_rows - MIN_TRAIN_WINDOWS))}

    def season_problem(self, options: BaseModel) -> str | None:
        return ("sunspots are yearly numbers: a year holds no season, and the solar cycle "
                "varies from 9 to 14 years, so no position in it can be read from the year")

    def validate_options(self, options: BaseModel) -> None:
        opts = _expect_options(self, options, SunspotsOptions)
        high = self.data_param_bounds(opts)["window"][1]
        if opts.window > high:
            raise SpecError(
                f"window {opts.window} leaves fewer than {MIN_TRAIN_WINDOWS} training years "
                f"with val_years={opts.val_years}; the largest window allowed is {high}",
                loc=("task", "window"),
            )

    def load(
        self, options: BaseModel, *, seed: int, hparams: Mapping[str, Any] | None = None
    ) -> TaskData:
        """The three splits; ``seed`` plays no part, the data and split are fixed."""
        opts = _expect_options(self, options, SunspotsOptions)
        window = int((hparams or {}).get("window") or opts.window)
        low, high = self.data_param_bounds(opts)["window"]
        if not low <= window <= high:
            raise ValueError(f"window must lie in [{low}, {high}], got {window}")
        _, values = load_sunspots()
        val_start = TRAIN_END - opts.val_years + 1
        fit = _rows(FIRST_YEAR, val_start - 1)
        mean, std = float(values[fit].mean()), float(values[fit].std())
        scaled = ((values - mean) / std)[:, None]
        train_rows = _rows(FIRST_YEAR + window, val_start - 1)
        val_rows = _rows(val_start, TRAIN_END)
        test_rows = _rows(*TEST_YEARS)
        return TaskData(
            train=windows(scaled, scaled[:, 0], train_rows, window=window, horizon=1),
            val=windows(scaled, scaled[:, 0], val_rows, window=window, horizon=1),
            test=windows(scaled, scaled[:, 0], test_rows, window=window, horizon=1),
            input_size=1,
            output_size=1,
            kind=self.kind,
            target_scale=torch.tensor([std], dtype=torch.float32),
            info={
                "window": window,
                "train_years": [FIRST_YEAR + window, val_start - 1],
                "val_years": [val_start, TRAIN_END],
                "test_years": list(TEST_YEARS),
                "normalisation": {"mean": mean, "std": std, "years": [FIRST_YEAR, val_start - 1]},
            },
            preprocessing={
                "layout": "sequences", "window": window, "horizon": 1,
                "columns": ["sunspots"], "target_column": "sunspots",
                "input": {"mean": [mean], "std": [std]}, "target": {"mean": [mean], "std": [std]},
            },
        )

    def baselines(self, options: BaseModel) -> dict[str, Baseline]:
        """Naive last value: predict this year's number for next year."""
        opts = _expect_options(self, options, SunspotsOptions)
        _, values = load_sunspots()
        val_rows = _rows(TRAIN_END - opts.val_years + 1, TRAIN_END)
        test_rows = _rows(*TEST_YEARS)
        val = regression_scores(values[val_rows - 1], values[val_rows])
        test = regression_scores(values[test_rows - 1], values[test_rows])
        return {
            metric: Baseline(
                name="naive_last_value", metric=metric, value=val[metric],
                description="predict last year's value", test_value=test[metric],
            )
            for metric in val
        }

    def reference_baselines(self, options: BaseModel) -> list[Baseline]:
        """AR(9) by least squares: on the validation years fitted before them, on the test
        years fitted on 1700-1920 (the classic figure)."""
        opts = _expect_options(self, options, SunspotsOptions)
        val_scores, test_scores = _ar_scores(opts.val_years)
        return [
            Baseline(
                name=f"ar{AR_ORDER}", metric=metric, value=val_scores[metric],
                description=f"AR({AR_ORDER}) with intercept, least squares on the training years",
                test_value=test_scores[metric],
            )
            for metric in val_scores
        ]


@lru_cache(maxsize=8)
def _ar_scores(val_years: int) -> tuple[dict[str, float], dict[str, float]]:
    _, values = load_sunspots()
    val_start = TRAIN_END - val_years + 1
    val_rows, test_rows = _rows(val_start, TRAIN_END), _rows(*TEST_YEARS)
    coef = fit_ar(values, _rows(FIRST_YEAR + AR_ORDER, val_start - 1), AR_ORDER)
    val = regression_scores(predict_ar(values, val_rows, coef), values[val_rows])
    coef = fit_ar(values, _rows(FIRST_YEAR + AR_ORDER, TRAIN_END), AR_ORDER)
    test = regression_scores(predict_ar(values, test_rows, coef), values[test_rows])
    return val, test
