"""Further validation splits of a task's data, for a selection step that should not hang on
one small validation set.

Split 0 is always the task's own. The others draw again from the training and validation parts
together, the test part untouched: classification at random with each class keeping its
validation count (stratified), regression at random, forecasting by rolling origin (split
``k`` validates on the ``k``-th validation-sized stretch back from the end and trains on every
window before it, so no split trains on anything later than what it validates). A split
keeps the task's normalisation (fitted on its training part): it changes which samples train
and which validate, not the units they are in.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ._base import SequenceSplit, TaskData

__all__ = ["MIN_TRAIN", "resplit_indices", "rolling_origin_indices", "validation_folds"]

# A split must leave at least this many training samples (or windows).
MIN_TRAIN = 10

Indices = tuple[np.ndarray, np.ndarray]


def validation_folds(data: TaskData, *, splits: int, seed: int) -> list[TaskData]:
    """``splits`` versions of ``data`` that differ in their training and validation parts;
    the first is ``data`` itself. ``seed`` draws the random re-splits.

    Raises:
        ValueError: a split would leave fewer than ``MIN_TRAIN`` training samples.
    """
    if splits < 1:
        raise ValueError(f"splits must be at least 1, got {splits}")
    if splits == 1:
        return [data]
    pool = _concat(data.train, data.val)
    n_train, n_val = data.train.n, data.val.n
    if data.kind == "forecasting":
        parts = rolling_origin_indices(pool.n, n_val=n_val, splits=splits)
        scheme = "rolling origin"
    else:
        labels = pool.y.cpu().numpy() if data.kind == "classification" else None
        parts = resplit_indices(n_train, n_val, labels, splits=splits, seed=seed)
        scheme = "stratified re-split" if labels is not None else "random re-split"
    folds = [data]
    for number, (train, val) in enumerate(parts[1:], start=1):
        folds.append(dataclasses.replace(
            data, train=_take(pool, train), val=_take(pool, val),
            info={**data.info, "validation_split": f"{scheme} {number} of {splits - 1}"}))
    return folds


def rolling_origin_indices(n: int, *, n_val: int, splits: int) -> list[Indices]:
    """Rolling-origin splits of ``n`` samples in time order whose last ``n_val`` validate in
    split 0: split ``k`` validates on ``[n - (k+1) n_val, n - k n_val)`` and trains on every
    sample before that."""
    out = []
    for k in range(splits):
        origin = n - (k + 1) * n_val
        if origin < MIN_TRAIN:
            raise ValueError(
                f"rolling-origin split {k + 1} of {splits} leaves {max(origin, 0)} training "
                f"windows (at least {MIN_TRAIN} needed); use fewer validation splits")
        out.append((np.arange(origin), np.arange(origin, origin + n_val)))
    return out


def resplit_indices(
    n_train: int, n_val: int, labels: np.ndarray | None, *, splits: int, seed: int
) -> list[Indices]:
    """The task's split of ``n_train + n_val`` samples (training first), then ``splits - 1``
    seeded random ones with as many validation samples; with ``labels``, as many of each
    class as the task's validation part holds."""
    n = n_train + n_val
    if n_train < MIN_TRAIN:
        raise ValueError(f"{n_train} training samples are too few to re-split "
                         f"(at least {MIN_TRAIN} needed)")
    out: list[Indices] = [(np.arange(n_train), np.arange(n_train, n))]
    for repeat in range(1, splits):
        rng = np.random.default_rng([seed, repeat])
        if labels is None:
            val = rng.permutation(n)[:n_val]
        else:
            wanted = labels[n_train:]
            val = np.concatenate([
                rng.permutation(np.flatnonzero(labels == label))[: int((wanted == label).sum())]
                for label in np.unique(wanted)])
        is_val = np.zeros(n, dtype=bool)
        is_val[val] = True
        out.append((np.flatnonzero(~is_val), np.flatnonzero(is_val)))
    return out


def _concat(first: SequenceSplit, second: SequenceSplit) -> SequenceSplit:
    """One split holding both, padded to the longer one's steps."""
    steps = max(first.x.shape[1], second.x.shape[1])

    def padded(split: SequenceSplit) -> torch.Tensor:
        extra = steps - split.x.shape[1]
        if not extra:
            return split.x
        return torch.cat([split.x, split.x.new_zeros(split.n, extra, split.x.shape[2])], dim=1)

    def lengths(split: SequenceSplit) -> torch.Tensor:
        if split.lengths is not None:
            return split.lengths
        return torch.full((split.n,), split.x.shape[1], dtype=torch.int64, device=split.x.device)

    all_lengths = torch.cat([lengths(first), lengths(second)])
    full = bool((all_lengths == steps).all())
    return SequenceSplit(x=torch.cat([padded(first), padded(second)]),
                         y=torch.cat([first.y, second.y]),
                         lengths=None if full else all_lengths)


def _take(split: SequenceSplit, rows: np.ndarray) -> SequenceSplit:
    index = torch.from_numpy(rows).to(split.x.device)
    lengths = None if split.lengths is None else split.lengths[index]
    return SequenceSplit(x=split.x[index], y=split.y[index], lengths=lengths)
