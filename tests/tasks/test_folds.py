"""Further validation splits for the selection step: re-splits keep each class's validation
count and never share a sample between training and validation; rolling origins keep time
order and never train on anything at or after what they validate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from service.tasks import TaskData, validation_folds
from service.tasks._base import SequenceSplit
from service.tasks._folds import MIN_TRAIN, resplit_indices, rolling_origin_indices
from service.tasks._prep import windows


def test_stratified_resplits_keep_each_class_validation_count() -> None:
    rng = np.random.default_rng(1)
    labels = rng.permutation(np.repeat([0, 1, 2], [20, 12, 4]))  # unbalanced classes
    n_train, n_val = 28, 8
    splits = resplit_indices(n_train, n_val, labels, splits=4, seed=0)
    assert len(splits) == 4
    own_train, own_val = splits[0]
    assert own_train.tolist() == list(range(28)) and own_val.tolist() == list(range(28, 36))
    wanted = np.bincount(labels[n_train:], minlength=3)
    seen_vals = set()
    for train, val in splits:
        assert len(set(train) & set(val)) == 0, "a sample both trains and validates"
        assert sorted([*train, *val]) == list(range(36))
        assert np.bincount(labels[val], minlength=3).tolist() == wanted.tolist()
        seen_vals.add(tuple(sorted(val)))
    assert len(seen_vals) == 4, "the re-splits are new splits"
    # Seeded: the same seed draws the same splits, another seed others.
    again = resplit_indices(n_train, n_val, labels, splits=4, seed=0)
    assert all((a[1] == b[1]).all() for a, b in zip(splits, again, strict=True))
    other = resplit_indices(n_train, n_val, labels, splits=4, seed=1)
    assert any(set(a[1]) != set(b[1]) for a, b in zip(splits[1:], other[1:], strict=True))


def test_random_resplits_for_regression() -> None:
    for train, val in resplit_indices(30, 6, None, splits=3, seed=0):
        assert len(val) == 6 and len(train) == 30 and not set(train) & set(val)


def test_rolling_origins_go_back_one_validation_stretch_at_a_time() -> None:
    splits = rolling_origin_indices(40, n_val=5, splits=3)
    assert [(v[0], v[-1]) for _, v in splits] == [(35, 39), (30, 34), (25, 29)]
    for train, val in splits:
        assert train.tolist() == list(range(val[0])), "trains on everything before the origin"
    with pytest.raises(ValueError, match="rolling-origin split 3 of 3 leaves 5 training"):
        rolling_origin_indices(20, n_val=5, splits=3)


def _series_data(n: int = 60, window: int = 4, n_val: int = 6) -> TaskData:
    # Each value is its row number, so a window's inputs and target say where they come from.
    values = np.arange(n, dtype=np.float64)
    series = values[:, None]
    val_start, test_start = n - 2 * n_val, n - n_val

    def part(lo: int, hi: int) -> SequenceSplit:
        return windows(series, values, np.arange(lo, hi), window=window, horizon=1)

    return TaskData(train=part(window, val_start), val=part(val_start, test_start),
                    test=part(test_start, n), input_size=1, output_size=1, kind="forecasting")


def test_rolling_origin_folds_never_look_ahead() -> None:
    data = _series_data()
    folds = validation_folds(data, splits=3, seed=0)
    assert folds[0] is data
    origins = []
    for fold in folds:
        train_rows, val_rows = fold.train.y[:, 0], fold.val.y[:, 0]
        assert fold.val.n == data.val.n
        # Time order inside each part, and every training target before every validated one.
        assert (torch.diff(train_rows) == 1).all() and (torch.diff(val_rows) == 1).all()
        assert float(train_rows.max()) < float(val_rows.min())
        # A window's inputs end before its target.
        assert (fold.val.x[:, :, 0].max(dim=1).values < val_rows).all()
        torch.testing.assert_close(fold.test.y, data.test.y)  # the test part is untouched
        origins.append(float(val_rows.min()))
    assert origins == [48.0, 42.0, 36.0]


def test_classification_folds_keep_samples_whole_with_their_lengths() -> None:
    rng = np.random.default_rng(0)
    n_train, n_val = 24, 9
    x = torch.from_numpy(rng.normal(size=(n_train + n_val, 7, 2)).astype(np.float32))
    y = torch.from_numpy(np.arange(n_train + n_val) % 3)
    lengths = torch.from_numpy(rng.integers(2, 8, size=n_train + n_val)).long()
    train = SequenceSplit(x[:n_train], y[:n_train], lengths[:n_train])
    val = SequenceSplit(x[n_train:, :5], y[n_train:], lengths[n_train:].clamp(max=5))
    data = TaskData(train=train, val=val, test=val, input_size=2, output_size=3,
                    kind="classification")
    folds = validation_folds(data, splits=3, seed=7)
    assert len(folds) == 3 and folds[0] is data
    for fold in folds[1:]:
        assert fold.val.n == n_val and fold.train.n == n_train
        assert torch.bincount(fold.val.y, minlength=3).tolist() == [3, 3, 3]
        train_keys = {tuple(row[0].tolist()) for row in fold.train.x}
        val_keys = {tuple(row[0].tolist()) for row in fold.val.x}
        assert not train_keys & val_keys
        assert fold.train.lengths is not None and fold.val.lengths is not None
        assert "re-split" in fold.info["validation_split"]


def test_too_small_a_training_part_is_refused() -> None:
    with pytest.raises(ValueError, match=f"at least {MIN_TRAIN}"):
        resplit_indices(MIN_TRAIN - 1, 3, None, splits=2, seed=0)
