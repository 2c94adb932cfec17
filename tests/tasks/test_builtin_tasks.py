"""The shipped data tasks (sunspots, JapaneseVowels) and copy memory: data, splits without
leakage, normalisation fitted on training data only, and the baselines shown beside results."""

from __future__ import annotations

import hashlib
import math
from importlib import resources

import numpy as np
import pytest
import torch

from service.errors import SpecError
from service.tasks import (
    DTW_1NN_TEST_ACCURACY,
    CopyMemoryOptions,
    JapaneseVowelsOptions,
    SunspotsOptions,
    get_task,
    load_japanese_vowels,
    load_sunspots,
    parse_task_options,
)

# -- shipped files -------------------------------------------------------------------------


def _sha256(name: str) -> str:
    data = resources.files("service.tasks").joinpath(f"data/{name}").read_bytes()
    return hashlib.sha256(data).hexdigest()


def test_shipped_files_match_their_provenance_record() -> None:
    provenance = resources.files("service.tasks").joinpath("data/PROVENANCE.md").read_text()
    for name in ("sunspots.csv", "japanese_vowels.npz"):
        assert _sha256(name) in provenance, name
    assert "public domain" in provenance.lower() and "CC BY 4.0" in provenance


# -- sunspots ------------------------------------------------------------------------------


def test_sunspots_file_is_the_yearly_series() -> None:
    years, values = load_sunspots()
    assert (years[0], years[-1], len(years)) == (1700, 2008, 309)
    assert values[years == 1700][0] == 5.0 and values.min() >= 0


def test_sunspots_classic_split_in_time_order() -> None:
    task = get_task("sunspots")
    data = task.load(SunspotsOptions(window=9, val_years=30), seed=0)
    assert (data.kind, data.input_size, data.output_size) == ("forecasting", 1, 1)
    assert data.info["train_years"] == [1709, 1890]
    assert data.info["val_years"] == [1891, 1920]
    assert data.info["test_years"] == [1921, 1987]
    assert (data.train.n, data.val.n, data.test.n) == (182, 30, 67)
    assert data.train.x.shape == (182, 9, 1) and data.test.y.shape == (67, 1)


def test_sunspots_targets_and_windows_have_no_leakage() -> None:
    """Each sample's window is the years right before its target year; the target years of
    train, validation and test are consecutive, disjoint and in that order."""
    _, values = load_sunspots()
    window = 5
    data = get_task("sunspots").load(SunspotsOptions(window=window), seed=0)
    norm = data.info["normalisation"]
    scale = data.target_scale
    assert scale is not None and float(scale[0]) == pytest.approx(norm["std"])
    spans = [data.info[f"{name}_years"] for name in ("train", "val", "test")]
    assert spans[0][1] < spans[1][0] and spans[1][1] < spans[2][0] == 1921
    for split, (first, last) in zip((data.train, data.val, data.test), spans, strict=True):
        rows = np.arange(first, last + 1) - 1700
        assert split.n == len(rows)
        x = split.x[:, :, 0].double().numpy() * norm["std"] + norm["mean"]
        y = split.y[:, 0].double().numpy() * norm["std"] + norm["mean"]
        assert np.allclose(y, values[rows], atol=1e-3)
        for sample, row in enumerate(rows):
            assert np.allclose(x[sample], values[row - window : row], atol=1e-3)


def test_sunspots_normalisation_uses_training_years_only() -> None:
    _, values = load_sunspots()
    data = get_task("sunspots").load(SunspotsOptions(val_years=30), seed=0)
    norm = data.info["normalisation"]
    train_years = values[: 1890 - 1700 + 1]
    assert norm["mean"] == pytest.approx(train_years.mean())
    assert norm["std"] == pytest.approx(train_years.std())
    assert norm["mean"] != pytest.approx(values[: 1920 - 1700 + 1].mean())


def test_sunspots_window_comes_from_hparams_and_is_bounded() -> None:
    task = get_task("sunspots")
    options = SunspotsOptions()
    data = task.load(options, seed=0, hparams={"window": 20})
    assert data.train.x.shape[1] == 20 and data.val.n == 30 and data.test.n == 67
    low, high = task.data_param_bounds(options)["window"]
    assert low == 1 and high == 100
    with pytest.raises(ValueError, match="window"):
        task.load(options, seed=0, hparams={"window": high + 1})
    with pytest.raises(SpecError, match="less than or equal to 100"):
        parse_task_options(task, {"window": 101})


def test_sunspots_baselines_are_the_published_figures() -> None:
    task = get_task("sunspots")
    options = SunspotsOptions()
    naive = task.baselines(options)
    assert naive["mse"].test_value == pytest.approx(920.7, abs=0.05)
    assert naive["mse"].name == "naive_last_value"
    assert naive["rmse"].test_value == pytest.approx(math.sqrt(920.73), abs=0.01)
    (ar9,) = [b for b in task.reference_baselines(options) if b.metric == "mse"]
    assert ar9.name == "ar9" and ar9.test_value == pytest.approx(305.2, abs=0.05)
    # On the validation years AR(9) is fitted before them and still beats naive.
    assert ar9.value is not None and naive["mse"].value is not None
    assert ar9.value < naive["mse"].value


def test_sunspots_naive_baseline_matches_the_split_tensors() -> None:
    task = get_task("sunspots")
    options = SunspotsOptions(window=3)
    data = task.load(options, seed=0)
    scale = data.target_scale
    assert scale is not None
    # Naive last value = the last input of each window; in the data's units.
    err = (data.test.x[:, -1, :] - data.test.y).double() * float(scale[0])
    assert float(err.square().mean()) == pytest.approx(920.73, abs=0.05)
    err = (data.val.x[:, -1, :] - data.val.y).double() * float(scale[0])
    naive = task.baselines(options)["mse"].value
    assert float(err.square().mean()) == pytest.approx(naive, rel=1e-5)


# -- JapaneseVowels ------------------------------------------------------------------------


def test_japanese_vowels_file_is_the_official_split() -> None:
    arrays = load_japanese_vowels()
    assert arrays["x_train"].shape == (270, 29, 12) and arrays["x_test"].shape == (370, 29, 12)
    lengths = np.concatenate([arrays["lengths_train"], arrays["lengths_test"]])
    assert (int(lengths.min()), int(lengths.max())) == (7, 29)
    assert np.bincount(arrays["y_train"]).tolist() == [30] * 9
    assert np.bincount(arrays["y_test"]).tolist() == [31, 35, 88, 44, 29, 24, 40, 50, 29]
    # Zero padding past each length.
    for x, n in zip(arrays["x_train"], arrays["lengths_train"], strict=True):
        assert not x[n:].any() and x[n - 1].any()


def test_japanese_vowels_splits_are_stratified_and_test_untouched() -> None:
    task = get_task("japanese_vowels")
    data = task.load(JapaneseVowelsOptions(), seed=0)
    assert (data.kind, data.input_size, data.output_size) == ("classification", 12, 9)
    assert (data.train.n, data.val.n, data.test.n) == (216, 54, 370)
    assert torch.bincount(data.train.y).tolist() == [24] * 9
    assert torch.bincount(data.val.y).tolist() == [6] * 9
    assert data.train.lengths is not None and data.test.lengths is not None
    assert torch.equal(data.test.lengths, torch.from_numpy(load_japanese_vowels()["lengths_test"]))
    # The study seed does not move the split; split_seed does.
    again = task.load(JapaneseVowelsOptions(), seed=5)
    other = task.load(JapaneseVowelsOptions(split_seed=1), seed=0)
    assert torch.equal(again.val.x, data.val.x) and not torch.equal(other.val.x, data.val.x)


def test_japanese_vowels_normalisation_fitted_on_training_part_only() -> None:
    data = get_task("japanese_vowels").load(JapaneseVowelsOptions(), seed=0)

    def valid(split: object) -> torch.Tensor:
        x, lengths = split.x, split.lengths  # type: ignore[attr-defined]
        mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]
        return x[mask]

    train = valid(data.train)
    assert torch.allclose(train.mean(0), torch.zeros(12), atol=1e-4)
    assert torch.allclose(train.std(0, unbiased=False), torch.ones(12), atol=1e-3)
    # Validation and test are transformed with the training statistics, so they are not.
    assert not torch.allclose(valid(data.test).mean(0), torch.zeros(12), atol=1e-2)
    # Padding stays exactly zero.
    x, lengths = data.test.x, data.test.lengths
    assert lengths is not None
    assert not x[torch.arange(29)[None, :] >= lengths[:, None]].any()


def test_japanese_vowels_baselines() -> None:
    task = get_task("japanese_vowels")
    options = JapaneseVowelsOptions()
    majority = task.baselines(options)
    # All speakers tie at 24 training utterances: speaker 1 (index 0) is predicted.
    assert majority["accuracy"].value == pytest.approx(6 / 54)
    assert majority["accuracy"].test_value == pytest.approx(31 / 370)
    assert majority["loss"].value == pytest.approx(math.log(9), abs=1e-6)
    (dtw,) = task.reference_baselines(options)
    assert dtw.metric == "accuracy" and dtw.value is None
    assert dtw.test_value == DTW_1NN_TEST_ACCURACY == pytest.approx(0.949, abs=5e-4)


# -- copy memory ---------------------------------------------------------------------------


def test_copy_memory_target_is_the_queried_symbol() -> None:
    task = get_task("copy_memory")
    options = CopyMemoryOptions(n_symbols=5, n_remember=3, delay=7, n_train=64, n_val=16,
                                n_test=16)
    data = task.load(options, seed=0)
    assert (data.input_size, data.output_size, data.kind) == (8, 5, "classification")
    x, y = data.train.x, data.train.y
    assert x.shape == (64, 11, 8)
    symbols = x[:, :3, :5].argmax(dim=2)
    query = x[:, -1, 5:].argmax(dim=1)
    assert torch.equal(y, symbols[torch.arange(64), query])
    assert not x[:, 3:10].any(), "the delay is blank"
    assert x[:, :3, :5].sum(dim=2).eq(1).all() and x[:, -1, 5:].sum(dim=1).eq(1).all()
    assert not torch.equal(data.train.x[:16], data.val.x)


def test_copy_memory_no_memory_baseline_and_no_bidirectional() -> None:
    task = get_task("copy_memory")
    baselines = task.baselines(CopyMemoryOptions(n_symbols=8))
    assert baselines["accuracy"].value == baselines["accuracy"].test_value == 1 / 8
    assert baselines["loss"].value == pytest.approx(math.log(8))
    assert baselines["accuracy"].name == "no_memory"
    assert not task.allows_bidirectional
    with pytest.raises(SpecError, match="limit"):
        parse_task_options(task, {"delay": 2000, "n_train": 200_000, "n_symbols": 64})
