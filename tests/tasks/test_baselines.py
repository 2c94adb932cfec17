"""Baselines fitted on a task's splits, on small data whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from service.tasks import SequenceSplit, TaskData, data_baselines
from service.tasks._baselines import detect_season, dtw_distances, nearest_neighbour
from service.tasks._prep import windows


def _by_name(baselines: list, metric: str) -> dict[str, tuple[float | None, float | None]]:
    return {b.name: (b.value, b.test_value) for b in baselines if b.metric == metric}


def _split(x: np.ndarray, y: np.ndarray, lengths: list[int] | None = None) -> SequenceSplit:
    return SequenceSplit(torch.tensor(x, dtype=torch.float32), torch.tensor(y),
                         None if lengths is None else torch.tensor(lengths, dtype=torch.int64))


def test_dtw_distance_of_hand_computed_pairs() -> None:
    # [0, 1, 2] against [0, 0, 1, 2]: the repeated 0 is warped away, distance 0.
    # [3] against [0, 0, 1, 2]: every reference step meets the 3: 9 + 9 + 4 + 1 = 23.
    queries = _split(np.array([[[0.0], [1.0], [2.0]], [[3.0], [0.0], [0.0]]]),
                     np.array([0, 1]), lengths=[3, 1])
    references = _split(np.array([[[0.0], [0.0], [1.0], [2.0]]]), np.array([0]))
    distances = dtw_distances(queries, references)
    assert distances is not None
    np.testing.assert_allclose(distances[:, 0], [0.0, 23.0])


def test_dtw_gives_up_after_its_deadline() -> None:
    split = _split(np.zeros((3, 4, 1)), np.array([0, 1, 0]))
    assert dtw_distances(split, split, deadline=0.0) is None


def test_nearest_neighbour_takes_the_closest_label_and_the_first_on_ties() -> None:
    distances = np.array([[3.0, 1.0, 2.0], [1.0, 1.0, 5.0]])
    assert nearest_neighbour(distances, np.array([7, 8, 9])).tolist() == [8, 7]


def _classification_data() -> TaskData:
    # Class 0 rises, class 1 falls; one validation series of class 1 is a rising one in
    # disguise (nearest to class 0), so the nearest neighbours score 2/3 on validation.
    ramp = np.linspace(-1.0, 1.0, 6)[None, :, None]
    noise = np.random.default_rng(0).normal(0, 0.05, size=(8, 6, 1))
    train_x = np.concatenate([ramp.repeat(4, 0), -ramp.repeat(4, 0)]) + noise
    train_y = np.array([0] * 4 + [1] * 4)
    val_x = np.concatenate([ramp, -ramp, ramp])
    test_x = np.concatenate([ramp, -ramp])
    return TaskData(train=_split(train_x, train_y), val=_split(val_x, np.array([0, 1, 1])),
                    test=_split(test_x, np.array([0, 1])), input_size=1, output_size=2,
                    kind="classification")


def test_classification_baselines_score_what_the_labels_allow() -> None:
    accuracy = _by_name(data_baselines(_classification_data()), "accuracy")
    assert set(accuracy) == {"1nn_euclidean", "1nn_dtw", "logistic"}
    for name in accuracy:
        val, test = accuracy[name]
        assert val == pytest.approx(2 / 3), name
        assert test == 1.0, name


def test_dtw_is_left_out_when_it_would_take_longer_than_the_limit() -> None:
    names = {b.name for b in data_baselines(_classification_data(), time_limit_s=1e-9)}
    assert "1nn_dtw" not in names and "1nn_euclidean" in names


def test_ridge_recovers_a_linear_target_in_the_data_units() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 3, 2))
    y = (x[:, :, 0].sum(axis=1) - 2 * x[:, -1, 1])[:, None]
    parts = [_split(x[i:i + 40], y[i:i + 40].astype(np.float32)) for i in (0, 40, 80)]
    data = TaskData(train=parts[0], val=parts[1], test=parts[2], input_size=2, output_size=1,
                    kind="regression", target_scale=torch.tensor([10.0]))
    mse = _by_name(data_baselines(data), "mse")
    assert mse["ridge"][0] < 1e-3 and mse["ridge"][1] < 1e-3


def _forecasting_data(values: np.ndarray, window: int) -> TaskData:
    series = values[:, None]
    n = len(values)
    cut1, cut2 = int(n * 0.6), int(n * 0.8)

    def part(lo: int, hi: int) -> SequenceSplit:
        return windows(series, values, np.arange(lo, hi), window=window, horizon=1)

    return TaskData(train=part(window, cut1), val=part(cut1, cut2), test=part(cut2, n),
                    input_size=1, output_size=1, kind="forecasting",
                    target_scale=torch.tensor([2.0]),
                    preprocessing={"columns": ["v"], "target_column": "v", "horizon": 1})


def test_ar_order_is_chosen_on_validation_and_fits_an_ar2_series() -> None:
    rng = np.random.default_rng(2)
    values = np.zeros(400)
    for t in range(2, 400):
        values[t] = 1.5 * values[t - 1] - 0.75 * values[t - 2] + rng.normal(0, 0.1)
    mse = _by_name(data_baselines(_forecasting_data(values, 6)), "mse")
    ar = [name for name in mse if name.startswith("ar")]
    assert len(ar) == 1 and int(ar[0][2:]) >= 2
    # The noise variance, times the target scale squared (4): 0.04.
    assert mse[ar[0]][1] == pytest.approx(0.04, rel=0.3)
    assert mse["naive"][1] > 2 * mse[ar[0]][1]


def test_seasonal_naive_finds_the_season_and_repeats_it() -> None:
    values = np.tile([0.0, 1.0, 3.0, -1.0], 60)
    assert detect_season(values, max_lag=10) == 4
    mse = _by_name(data_baselines(_forecasting_data(values, 8)), "mse")
    assert mse["seasonal_naive_4"] == (0.0, 0.0)
    assert mse["naive"][1] > 1.0
    # Given, the season overrides detection (and a wrong one costs accuracy).
    given = _by_name(data_baselines(_forecasting_data(values, 8), season=2), "mse")
    assert "seasonal_naive_2" in given and given["seasonal_naive_2"][1] > 0


def test_no_season_in_noise() -> None:
    assert detect_season(np.random.default_rng(3).normal(size=300), max_lag=20) is None


def test_naive_repeats_the_last_value() -> None:
    values = np.arange(100, dtype=np.float64)  # each step adds 1: naive is off by one
    mse = _by_name(data_baselines(_forecasting_data(values, 4)), "mse")
    assert mse["naive"] == (pytest.approx(4.0), pytest.approx(4.0))  # (1 * scale 2) squared
