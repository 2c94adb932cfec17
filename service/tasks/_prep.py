"""Helpers shared by the data-backed tasks: splits, normalisation fitted on the training part,
windows over a time series, and the trivial baselines computed from data."""

from __future__ import annotations

import math

import numpy as np
import torch

from ._base import SequenceSplit
from ._metrics import compute_metrics

TRAIN, VAL, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "val", "test")


def split_counts(n: int, *, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """Validation and test sizes of a group of ``n``: each at least one when its fraction is
    positive, so that every class reaches every split."""
    n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    return n_val, n_test


def stratified_split(
    labels: np.ndarray, *, val_fraction: float, test_fraction: float, seed: int
) -> np.ndarray:
    """Split codes (TRAIN, VAL, TEST) that keep each class's share in every split.

    Raises:
        ValueError: a class has too few samples to give each split at least one.
    """
    rng = np.random.default_rng(seed)
    codes = np.full(len(labels), TRAIN, dtype=np.int8)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val, n_test = split_counts(len(members), val_fraction=val_fraction,
                                     test_fraction=test_fraction)
        if len(members) - n_val - n_test < 1:
            raise ValueError(f"class {label!r} has {len(members)} samples, too few for the split")
        codes[members[:n_val]] = VAL
        codes[members[n_val : n_val + n_test]] = TEST
    return codes


def random_split(n: int, *, val_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    """Split codes for ``n`` samples in a seeded random order."""
    n_val, n_test = split_counts(n, val_fraction=val_fraction, test_fraction=test_fraction)
    if n - n_val - n_test < 1:
        raise ValueError(f"{n} samples are too few for the split")
    order = np.random.default_rng(seed).permutation(n)
    codes = np.full(n, TRAIN, dtype=np.int8)
    codes[order[:n_val]] = VAL
    codes[order[n_val : n_val + n_test]] = TEST
    return codes


def carve_split(
    codes: np.ndarray, labels: np.ndarray | None, *, val_fraction: float, test_fraction: float,
    seed: int,
) -> np.ndarray:
    """Fill the parts a given split lacks (no VAL or no TEST code) from its training part.

    Each missing part takes its fraction of the training part, stratified by ``labels`` when
    given (classification), in a seeded random order otherwise.

    Raises:
        ValueError: the training part (or a class in it) is too small to give each missing
            part at least one sample.
    """
    train = np.flatnonzero(codes == TRAIN)
    fractions = {"val_fraction": val_fraction if not (codes == VAL).any() else 0.0,
                 "test_fraction": test_fraction if not (codes == TEST).any() else 0.0}
    if labels is not None:
        inner = stratified_split(labels[train], **fractions, seed=seed)
    else:
        inner = random_split(len(train), **fractions, seed=seed)
    carved = codes.copy()
    carved[train] = inner
    return carved


def valid_mask(n_steps: int, lengths: np.ndarray | None, n: int) -> np.ndarray:
    """(N, T) boolean mask of the steps that belong to each sequence."""
    if lengths is None:
        return np.ones((n, n_steps), dtype=bool)
    return np.arange(n_steps)[None, :] < lengths[:, None]


def fit_standardizer(x: np.ndarray, lengths: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation over the valid steps of (N, T, F) ``x``.

    A constant feature gets a scale of 1, so it is centred but never divided by zero.
    """
    mask = valid_mask(x.shape[1], lengths, x.shape[0])
    values = x[mask].astype(np.float64)  # (valid steps, F)
    mean = values.mean(axis=0)
    std = values.std(axis=0)
    std[~(std > 1e-12)] = 1.0
    return mean, std


def standardize(
    x: np.ndarray, lengths: np.ndarray | None, mean: np.ndarray, std: np.ndarray
) -> np.ndarray:
    """``(x - mean) / std`` as float32, with padding set to zero."""
    out: np.ndarray = ((x.astype(np.float64) - mean) / std).astype(np.float32)
    out[~valid_mask(x.shape[1], lengths, x.shape[0])] = 0.0
    return out


def to_split(x: np.ndarray, y: np.ndarray, lengths: np.ndarray | None) -> SequenceSplit:
    """Tensors of a split; ``lengths`` is dropped when every sequence is full."""
    full = lengths is None or bool((lengths == x.shape[1]).all())
    return SequenceSplit(
        x=torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
        y=torch.from_numpy(np.ascontiguousarray(y)),
        lengths=None if full else torch.from_numpy(np.asarray(lengths, dtype=np.int64)),
    )


def windows(
    inputs: np.ndarray, target: np.ndarray, rows: np.ndarray, *, window: int, horizon: int
) -> SequenceSplit:
    """One sample per target row ``t``: the ``window`` rows ending at ``t - horizon`` as input
    (T, F) and ``target[t]`` as output, so an input never reaches past what is forecast."""
    starts = rows - horizon - window + 1
    if len(rows) and int(starts.min()) < 0:
        raise ValueError(f"row {int(rows.min())} has no full window of {window} before it")
    index = starts[:, None] + np.arange(window)[None, :]
    x = inputs[index].astype(np.float32)  # (N, window, F)
    y = target[rows].astype(np.float32)[:, None]
    return SequenceSplit(x=torch.from_numpy(x), y=torch.from_numpy(y))


def regression_scores(prediction: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """MSE (also as the loss), RMSE and MAE of ``prediction`` in the data's units."""
    diff = np.asarray(prediction, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    mse = float(np.mean(diff**2))
    return {"loss": mse, "mse": mse, "rmse": math.sqrt(mse), "mae": float(np.mean(np.abs(diff)))}


def fit_ar(values: np.ndarray, fit_rows: np.ndarray, order: int) -> np.ndarray:
    """Least-squares AR(``order``) with an intercept, fitted on one-step targets ``fit_rows``."""
    design = _lags(values, fit_rows, order)
    coef, *_ = np.linalg.lstsq(design, values[fit_rows], rcond=None)
    return np.asarray(coef)


def predict_ar(values: np.ndarray, rows: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """One-step AR forecasts of ``rows`` from the observed values before each."""
    return np.asarray(_lags(values, rows, len(coef) - 1) @ coef)


def _lags(values: np.ndarray, rows: np.ndarray, order: int) -> np.ndarray:
    lags = np.stack([values[rows - k] for k in range(1, order + 1)], axis=1)
    return np.concatenate([np.ones((len(rows), 1)), lags], axis=1)


def majority_scores(
    train_labels: np.ndarray, labels: np.ndarray, n_classes: int
) -> dict[str, float]:
    """Scores of always predicting the most frequent training class (ties: the lowest index).

    The loss is the cross-entropy of the training class frequencies (lightly smoothed, so an
    unseen class costs a finite amount): what a model that ignores its input can reach.
    """
    counts = np.bincount(train_labels, minlength=n_classes).astype(np.float64)
    prior = (counts + 0.5) / (counts.sum() + 0.5 * n_classes)
    logits = np.log(prior)
    logits[int(np.argmax(counts))] += 1e-6  # argmax breaks ties the same way
    output = torch.from_numpy(np.tile(logits, (len(labels), 1)))
    return compute_metrics("classification", output, torch.from_numpy(labels.astype(np.int64)))
