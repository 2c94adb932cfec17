"""Seasonal inputs: the position in the season, read from a data set's time column, fed to a
forecaster as sin and cos; built the same way when its model file predicts; left out or refused
where the data has no season."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from service.errors import DatasetError, SpecError
from service.models import build_bundle, load_model
from service.models._bundle import read_input
from service.spaces import compile_space
from service.spaces._catalog import defaults as default_hparams
from service.specs import parse_spec_mapping
from service.tasks import DatasetTask, StoredDataset, parse_task_options
from service.tasks._season import Season, season_features, season_of, season_positions
from service.training import Trainer
from service.tuning import resolve_spec
from service.tuning._objective import build_model, build_train_config
from service.tuning._season_option import fit_seasonal_option

SPACES_DIR = Path(__file__).resolve().parents[2] / "search_spaces"
START_MONTH = 3  # the series starts in March: positions must not start at zero


def monthly_csv(rows: int = 72, *, time_column: bool = True, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    months = [(START_MONTH - 1 + i) % 12 for i in range(rows)]
    values = [10 * math.sin(2 * math.pi * m / 12) + rng.normal(0, 0.5) for m in months]
    times = [f"{2001 + (START_MONTH - 1 + i) // 12}-{m + 1:02d}" for i, m in enumerate(months)]
    if time_column:
        lines = ["month,sales"] + [f"{t},{v:.4f}" for t, v in zip(times, values, strict=True)]
    else:
        lines = ["sales"] + [f"{v:.4f}" for v in values]
    return ("\n".join(lines) + "\n").encode()


def dataset(content: bytes, **options: Any) -> DatasetTask:
    return DatasetTask(StoredDataset(id=7, name="sales", format="csv",
                                     sha256=hashlib.sha256(content).hexdigest(),
                                     content=content, parse_options=options))


def test_monthly_features_are_the_sin_and_cos_of_the_month() -> None:
    task = dataset(monthly_csv(), time_column="month")
    assert "seasonal_inputs" in task.data_params and task.season_problem(task.Options()) is None
    options = parse_task_options(task, {"window": 6})
    plain = task.load(options, seed=0, hparams={"window": 6})
    data = task.load(options, seed=0, hparams={"window": 6, "seasonal_inputs": True})
    assert plain.input_size == 1 and data.input_size == 3
    # The series' own column is unchanged; the two new ones are exactly sin, cos of the month.
    torch.testing.assert_close(data.train.x[:, :, :1], plain.train.x)
    first_target = 6  # window 6, horizon 1: the first training window covers rows 0-5
    for i in range(data.train.n):
        rows = np.arange(first_target + i - 6, first_target + i)
        month = (START_MONTH - 1 + rows) % 12
        expected = np.stack([np.sin(2 * np.pi * month / 12), np.cos(2 * np.pi * month / 12)], 1)
        np.testing.assert_allclose(data.train.x[i, :, 1:].numpy(), expected, atol=1e-6)
    assert data.preprocessing["season"] == {"unit": "month", "length": 12,
                                            "time_column": "month",
                                            "features": ["season_sin", "season_cos"]}
    assert data.preprocessing["input"]["mean"][1:] == [0.0, 0.0]
    assert data.preprocessing["input"]["std"][1:] == [1.0, 1.0]


@pytest.mark.parametrize(
    ("times", "season", "positions"),
    [
        (["2001-Q3", "2001-Q4", "2002-Q1"], Season("quarter", 4), [2, 3, 0]),
        (["2024-01-06", "2024-01-07", "2024-01-08"], Season("weekday", 7), [5, 6, 0]),
        (["2024-01-01 22:00", "2024-01-01 23:00", "2024-01-02 00:00"], Season("hour", 24),
         [22, 23, 0]),
    ],
)
def test_other_calendar_seasons(times: list[str], season: Season, positions: list[int]) -> None:
    assert season_positions(times, season, "t").tolist() == positions
    features = season_features(np.array(positions), season.length)
    np.testing.assert_allclose(features[:, 0] ** 2 + features[:, 1] ** 2, 1.0)


def test_which_frequencies_give_a_season() -> None:
    assert season_of("monthly") == Season("month", 12)
    assert season_of("irregular (most often daily)") == Season("weekday", 7)
    for none in ("yearly", "step 1", "weekly", None):
        assert season_of(none) is None
    with pytest.raises(DatasetError, match="plain numbers"):
        season_positions(["1", "2"], Season("month", 12), "t")


def test_a_seasonal_model_trains_predicts_and_round_trips_through_its_file() -> None:
    content = monthly_csv()
    task = dataset(content, time_column="month")
    hp = {**default_hparams(), "cell": "gru", "hidden_size": 8, "window": 6, "lr": 0.01,
          "batch_size": 16, "seasonal_inputs": True}
    data = task.load(parse_task_options(task, {"window": 6}), seed=0, hparams=hp)
    torch.manual_seed(0)
    model = build_model(hp, data)
    config = build_train_config(hp, max_epochs=15, seed=0, device=torch.device("cpu"))
    trainer = Trainer(model, config, kind="forecasting", device=torch.device("cpu"),
                      target_scale=data.target_scale)
    outcome = trainer.fit(data.train, data.val)
    losses = [e.train_loss for e in outcome.epochs]
    assert outcome.status == "completed" and losses[-1] < 0.5 * losses[0]
    model.eval()
    loaded = load_model(build_bundle(model, kind="forecasting", metric="mse",
                                     preprocessing=data.preprocessing))
    assert loaded.config.input_size == 3

    # The file builds the season's inputs from the times: the same forecasts as the model on
    # the task's own test windows.
    lines = content.decode().splitlines()[1:]
    times = [line.split(",")[0] for line in lines]
    values = np.array([[float(line.split(",")[1])] for line in lines])
    targets, forecasts = loaded.predict_series(values, times)
    test_rows = np.arange(len(lines) - data.test.n, len(lines))
    with torch.no_grad():
        direct = model(data.test.x).double().numpy()
    prep = data.preprocessing
    direct = direct * prep["target"]["std"][0] + prep["target"]["mean"][0]
    picked = forecasts[np.isin(targets, test_rows)]
    np.testing.assert_allclose(picked, direct, rtol=1e-4, atol=1e-4)

    # The same through a CSV input (`rnntune predict`, POST .../predict), which must carry
    # the time column.
    result = read_input(loaded, content, format="csv")
    np.testing.assert_allclose(np.array(result["predictions"]), forecasts, rtol=1e-6)
    no_time = ("sales\n" + "\n".join(line.split(",")[1] for line in lines)).encode()
    with pytest.raises(DatasetError, match="lacks the time column 'month'"):
        read_input(loaded, no_time, format="csv")
    with pytest.raises(DatasetError, match="reads the season from the time column"):
        loaded.predict_series(values)


def _space(seasonal: Any) -> dict[str, Any]:
    return {"params": {"cell": "gru", "hidden_size": 4, "window": 6,
                       "seasonal_inputs": seasonal}}


@pytest.mark.parametrize(
    ("content", "options", "why"),
    [
        (monthly_csv(time_column=False), {}, "has no time column"),
        (monthly_csv().replace(b"month,", b"year,"), {"time_column": "year"}, None),
    ],
)
def test_a_series_without_a_season_leaves_the_option_out_or_refuses_it(
    content: bytes, options: dict[str, str], why: str | None
) -> None:
    if why is None:  # a yearly time column: rewrite the months as consecutive years
        lines = content.decode().splitlines()
        content = ("\n".join([lines[0]] + [f"{1900 + i},{line.split(',')[1]}"
                                           for i, line in enumerate(lines[1:])])).encode()
        why = "time column 'year' is yearly; a season is read from monthly"
    task = dataset(content, **options)
    assert "seasonal_inputs" not in task.data_params
    task_options = parse_task_options(task, {"window": 6})
    problem = task.season_problem(task_options)
    assert problem is not None and why in problem

    optional = compile_space(_space({"type": "categorical", "choices": [False, True]}))
    fitted = fit_seasonal_option(optional, task, task_options)
    assert "seasonal_inputs" not in fitted.names and "cell" in fitted.names
    assert "seasonal_inputs left out" in fitted.description and why in fitted.description
    with pytest.raises(SpecError, match=f"seasonal_inputs needs a season: .*{why}"):
        fit_seasonal_option(compile_space(_space(True)), task, task_options)
    off = compile_space(_space(False))
    assert fit_seasonal_option(off, task, task_options) is off


def test_sunspots_with_the_shipped_forecasting_space_searches_without_it() -> None:
    spec = parse_spec_mapping({"task": {"name": "sunspots"}, "search_space": "forecasting"})
    resolved = resolve_spec(spec, spaces_dir=SPACES_DIR)
    assert "seasonal_inputs" not in resolved.space.names
    assert "seasonal_inputs left out: sunspots are yearly" in resolved.space.description
    assert "highway" in resolved.space.names
    forced = parse_spec_mapping({"task": {"name": "sunspots"},
                                 "search_space": _space(True)})
    with pytest.raises(SpecError, match="seasonal_inputs needs a season") as error:
        resolve_spec(forced, spaces_dir=SPACES_DIR)
    assert error.value.loc == ("search_space", "params", "seasonal_inputs")


def test_a_monthly_data_set_keeps_the_option_in_the_shipped_space() -> None:
    task = dataset(monthly_csv(), time_column="month")
    space = compile_space({"params": {"seasonal_inputs": {"type": "categorical",
                                                          "choices": [False, True]}}},
                          task_kind="forecasting")
    assert fit_seasonal_option(space, task, task.Options()) is space
