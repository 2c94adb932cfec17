"""Baselines worth beating, fitted on any task's splits.

The trivial baselines (majority class, training mean, last value) say whether a model learned
anything; these say whether it beat the simple model a user would otherwise use:

- classification: 1-nearest-neighbour with Euclidean distance and with DTW (when the pairs fit
  a time limit), multinomial logistic regression on the flattened series;
- regression: ridge regression on the flattened input;
- forecasting: naive last value, seasonal naive (season given or detected from the training
  targets) and AR(p) by least squares, p chosen on the validation split.

Each is fitted on the training split only, as the network is, with any option chosen on the
validation split, and scored on the validation and test splits in the data's own units.
Variable-length sequences are resampled to one length for the Euclidean and linear models;
DTW reads them at their own lengths.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from service.models._resample import resample_flat

from ._base import Baseline, SequenceSplit, TaskData
from ._metrics import compute_metrics
from ._prep import regression_scores

__all__ = [
    "ar_forecasts",
    "data_baselines",
    "detect_season",
    "dtw_distances",
    "fit_logistic",
    "flat_series",
    "nearest_neighbour",
    "target_index",
]

# Lambdas tried for logistic and ridge regression (on standardised features).
_PENALTIES = (1e-3, 1e-1, 10.0, 1000.0)
# Cells of the DTW tables (pairs x steps x steps) that fit the default time limit on one core.
_DTW_CELLS_PER_S = 5e7


def data_baselines(
    data: TaskData, *, time_limit_s: float = 60.0, season: int | None = None
) -> list[Baseline]:
    """Every baseline of ``data``'s kind, one :class:`Baseline` per baseline and metric.

    ``season`` (forecasting) overrides the detected season. A baseline that cannot be
    computed (DTW over the time limit, no season found) is left out.
    """
    data = data.to("cpu")
    if data.kind == "classification":
        return _classification(data, time_limit_s)
    if data.kind == "regression":
        return _regression(data)
    return _forecasting(data, season)


# -- classification -------------------------------------------------------------------------


def _classification(data: TaskData, time_limit_s: float) -> list[Baseline]:
    n_classes = data.output_size
    steps = max(data.train.x.shape[1], data.val.x.shape[1], data.test.x.shape[1])
    train, val, test = (flat_series(s, steps) for s in (data.train, data.val, data.test))
    labels = data.train.y.numpy()
    out: list[Baseline] = []

    def add(name: str, description: str, val_scores: dict[str, float],
            test_scores: dict[str, float]) -> None:
        out.extend(Baseline(name=name, metric=m, value=val_scores[m], description=description,
                            test_value=test_scores.get(m)) for m in val_scores)

    def hard(pred: np.ndarray, split: SequenceSplit) -> dict[str, float]:
        # A hard prediction has no meaningful cross-entropy: accuracy and F1 only.
        scores = compute_metrics("classification", _one_hot(pred, n_classes), split.y)
        return {k: v for k, v in scores.items() if k != "loss"}

    def euclid(query: np.ndarray) -> np.ndarray:
        return np.asarray(((query[:, None, :] - train[None, :, :]) ** 2).sum(axis=2))

    add("1nn_euclidean", "1-nearest-neighbour, Euclidean distance on the series",
        hard(nearest_neighbour(euclid(val), labels), data.val),
        hard(nearest_neighbour(euclid(test), labels), data.test))
    started = time.perf_counter()
    cells = (data.val.n + data.test.n) * data.train.n * steps * steps
    if cells <= _DTW_CELLS_PER_S * time_limit_s:
        deadline = started + time_limit_s
        val_d = dtw_distances(data.val, data.train, deadline=deadline)
        test_d = None if val_d is None else dtw_distances(data.test, data.train,
                                                          deadline=deadline)
        if val_d is not None and test_d is not None:
            add("1nn_dtw", "1-nearest-neighbour, dynamic time warping (no window)",
                hard(nearest_neighbour(val_d, labels), data.val),
                hard(nearest_neighbour(test_d, labels), data.test))
    weight, bias, _ = fit_logistic(train, labels, n_classes, val, data.val.y)

    def predict(query: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(query) @ weight.T + bias

    add("logistic", "multinomial logistic regression on the flattened series, L2 chosen on "
        "validation",
        compute_metrics("classification", predict(val), data.val.y),
        compute_metrics("classification", predict(test), data.test.y))
    return out


def nearest_neighbour(distances: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The label of each query's nearest reference, from (queries, references) distances;
    ties go to the first reference."""
    return np.asarray(np.asarray(labels)[np.argmin(distances, axis=1)])


def dtw_distances(
    queries: SequenceSplit, references: SequenceSplit, *, deadline: float | None = None
) -> np.ndarray | None:
    """Dependent multivariate DTW (squared Euclidean step cost, no warping window) between
    every query and reference at their own lengths; None when ``deadline`` passes first."""
    qx, rx = queries.x.double().numpy(), references.x.double().numpy()
    q_len = _lengths(queries)
    r_len = _lengths(references)
    out = np.empty((queries.n, references.n))
    chunk = max(1, 5_000 // max(references.n, 1))  # pairs per block: bounded memory
    for start in range(0, queries.n, chunk):
        if deadline is not None and time.perf_counter() > deadline:
            return None
        stop = min(start + chunk, queries.n)
        out[start:stop] = _dtw_block(qx[start:stop], q_len[start:stop], rx, r_len)
    return out


def _dtw_block(qx: np.ndarray, q_len: np.ndarray, rx: np.ndarray, r_len: np.ndarray
               ) -> np.ndarray:
    """DTW of a block of queries against all references, every pair at once; padding past a
    sequence's length never reaches the cell read back, (q_len - 1, r_len - 1)."""
    n_q, t_q = qx.shape[0], int(q_len.max())
    n_r, t_r = rx.shape[0], int(r_len.max())
    # cost[i, j, pair]: squared distance between query step i and reference step j; the
    # pairs axis last keeps every step of the recursion on contiguous memory.
    q = np.ascontiguousarray(qx[:, :t_q].transpose(1, 0, 2))  # (t_q, n_q, F)
    r = np.ascontiguousarray(rx[:, :t_r].transpose(1, 0, 2))  # (t_r, n_r, F)
    cost = ((q[:, None, :, None, :] - r[None, :, None, :, :]) ** 2).sum(axis=4)
    cost = cost.reshape(t_q, t_r, n_q * n_r)
    end_row = np.repeat(q_len - 1, n_r)
    end_col = np.tile(r_len - 1, n_q)
    result = np.empty(n_q * n_r)
    table = np.cumsum(cost[0], axis=0)  # first query step: only moves along the reference
    for i in range(t_q):
        if i:
            row = np.empty_like(table)
            row[0] = table[0] + cost[i, 0]
            for j in range(1, t_r):
                row[j] = cost[i, j] + np.minimum(np.minimum(table[j], table[j - 1]), row[j - 1])
            table = row
        done = end_row == i
        if done.any():
            result[done] = table[end_col[done], np.flatnonzero(done)]
    return result.reshape(n_q, n_r)


class LogisticFit(NamedTuple):
    """Logits ``x @ weight.T + bias`` of raw features (float64), and the L2 penalty chosen."""

    weight: torch.Tensor  # (n_classes, D)
    bias: torch.Tensor  # (n_classes,)
    penalty: float


def fit_logistic(
    x: np.ndarray, labels: np.ndarray, n_classes: int, val_x: np.ndarray, val_y: torch.Tensor,
    *, penalties: Sequence[float] = _PENALTIES,
) -> LogisticFit:
    """Multinomial logistic regression (L-BFGS) of (N, D) features, fitted on standardised
    features with the L2 penalty chosen on validation loss among ``penalties`` (one penalty:
    no choice, as when a fit is repeated on more data with the penalty chosen before)."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[~(std > 1e-12)] = 1.0
    features = torch.from_numpy((x - mean) / std)
    target = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    val_features = torch.from_numpy((val_x - mean) / std)
    best: tuple[float, torch.Tensor, torch.Tensor, float] | None = None
    for penalty in penalties:
        weight = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
        bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([weight, bias], max_iter=100, line_search_fn="strong_wolfe")

        def closure(w: torch.Tensor = weight, b: torch.Tensor = bias,
                    p: float = penalty, o: torch.optim.Optimizer = optimizer) -> torch.Tensor:
            o.zero_grad()
            loss = torch.nn.functional.cross_entropy(features @ w + b, target)
            loss = loss + p * w.square().sum() / len(target)
            loss.backward()  # type: ignore[no-untyped-call]
            return loss

        optimizer.step(closure)  # type: ignore[no-untyped-call]
        with torch.no_grad():
            val_loss = float(torch.nn.functional.cross_entropy(
                val_features @ weight + bias, val_y.long()))
        if best is None or (math.isfinite(val_loss) and not val_loss >= best[0]):
            best = (val_loss, weight.detach(), bias.detach(), penalty)
    assert best is not None, "no penalty to fit"
    _, weight, bias, penalty = best
    # Standardisation folded into the weights: logits of the raw features.
    scale = torch.from_numpy(std)
    raw_weight = (weight / scale[:, None]).T.contiguous()
    raw_bias = bias - (torch.from_numpy(mean) / scale) @ weight
    return LogisticFit(raw_weight, raw_bias, penalty)


# -- regression -----------------------------------------------------------------------------


def _regression(data: TaskData) -> list[Baseline]:
    steps = max(data.train.x.shape[1], data.val.x.shape[1], data.test.x.shape[1])
    train, val, test = (flat_series(s, steps) for s in (data.train, data.val, data.test))
    scale = _scale(data)
    y = data.train.y.double().numpy()
    best: tuple[float, np.ndarray] | None = None
    for penalty in _PENALTIES:
        coef = _ridge(train, y, penalty)
        mse = float(((_affine(val, coef) - data.val.y.double().numpy()) ** 2).mean())
        if best is None or mse < best[0]:
            best = (mse, coef)
    assert best is not None
    coef = best[1]
    val_scores = _units(_affine(val, coef), data.val, scale)
    test_scores = _units(_affine(test, coef), data.test, scale)
    return _each_metric("ridge", "ridge regression on the flattened input, penalty chosen on "
                        "validation", val_scores, test_scores)


def _ridge(x: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    """Ridge with an unpenalised intercept (first row of the result)."""
    design = np.concatenate([np.ones((x.shape[0], 1)), x], axis=1)
    gram = design.T @ design
    ridge = penalty * np.eye(gram.shape[0])
    ridge[0, 0] = 0.0
    return np.asarray(np.linalg.lstsq(gram + ridge, design.T @ y, rcond=None)[0])


def _affine(x: np.ndarray, coef: np.ndarray) -> np.ndarray:
    return np.asarray(coef[0] + x @ coef[1:])


# -- forecasting ----------------------------------------------------------------------------


def _forecasting(data: TaskData, season: int | None) -> list[Baseline]:
    column = target_index(data)
    horizon = int(data.preprocessing.get("horizon") or data.info.get("horizon") or 1)
    scale = _scale(data)
    past = {name: getattr(data, name).x[:, :, column].double().numpy()
            for name in ("train", "val", "test")}
    steps = past["train"].shape[1]
    out = _each_metric(
        "naive", "predict the last value in the window",
        _units(past["val"][:, -1:], data.val, scale), _units(past["test"][:, -1:], data.test,
                                                             scale))
    train_y = data.train.y[:, 0].double().numpy()
    found = season if season is not None else detect_season(train_y, max_lag=steps + horizon - 1)
    if found is not None and horizon <= found <= steps + horizon - 1:
        back = found - horizon  # steps before the window's last value
        out += _each_metric(
            f"seasonal_naive_{found}", f"predict the value one season ({found} steps) before",
            _units(past["val"][:, steps - 1 - back : steps - back], data.val, scale),
            _units(past["test"][:, steps - 1 - back : steps - back], data.test, scale))
    best: tuple[float, int, np.ndarray] | None = None
    for order in range(1, steps + 1):
        coef = _ridge(past["train"][:, steps - order :], train_y[:, None], 0.0)
        val_pred = ar_forecasts(past["val"], coef)
        mse = float(((val_pred - data.val.y.double().numpy()) ** 2).mean())
        if best is None or mse < best[0]:
            best = (mse, order, coef)
    assert best is not None
    _, order, coef = best
    out += _each_metric(
        f"ar{order}", f"AR({order}) by least squares on the training windows, order chosen on "
        f"validation from 1-{steps}",
        _units(ar_forecasts(past["val"], coef), data.val, scale),
        _units(ar_forecasts(past["test"], coef), data.test, scale))
    return out


def ar_forecasts(past: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """(N, 1) forecasts of an AR model ``coef`` (intercept first, then the oldest to the
    newest lag's weight) from the last steps of ``past`` (N, T)."""
    order = coef.shape[0] - 1
    return np.asarray(coef[0] + past[:, past.shape[1] - order :] @ coef[1:]).reshape(-1, 1)


def detect_season(values: np.ndarray, *, max_lag: int, min_corr: float = 0.3) -> int | None:
    """The lag in [2, max_lag] with the highest autocorrelation that is a local peak above
    ``min_corr``; None when the series shows no season."""
    series = np.asarray(values, dtype=np.float64) - float(np.mean(values))
    denom = float(series @ series)
    max_lag = min(max_lag, len(series) // 3)
    if denom <= 0 or max_lag < 2:
        return None
    acf = np.array([float(series[lag:] @ series[:-lag]) / denom if lag else 1.0
                    for lag in range(max_lag + 2)])
    peaks = [lag for lag in range(2, max_lag + 1)
             if acf[lag] >= acf[lag - 1] and acf[lag] >= acf[lag + 1] and acf[lag] > min_corr]
    return max(peaks, key=lambda lag: acf[lag]) if peaks else None


# -- shared ---------------------------------------------------------------------------------


def _lengths(split: SequenceSplit) -> np.ndarray:
    if split.lengths is None:
        return np.full(split.n, split.x.shape[1], dtype=np.int64)
    return split.lengths.numpy().astype(np.int64)


def flat_series(split: SequenceSplit, steps: int) -> np.ndarray:
    """(N, steps * F) float64: each sequence resampled linearly to ``steps`` steps, then
    flattened (as a classifier's linear path reads it)."""
    lengths = None if split.lengths is None else split.lengths.cpu()
    return resample_flat(split.x.double().cpu(), lengths, steps).numpy()


def _one_hot(pred: np.ndarray, n_classes: int) -> torch.Tensor:
    logits = torch.zeros(len(pred), n_classes, dtype=torch.float64)
    logits[torch.arange(len(pred)), torch.from_numpy(np.asarray(pred, dtype=np.int64))] = 1.0
    return logits


def target_index(data: TaskData) -> int:
    """The input feature that is the forecast target (its own past), 0 when none is named."""
    columns = list(data.preprocessing.get("columns") or [])
    target = data.preprocessing.get("target_column")
    return columns.index(target) if target in columns else 0


def _scale(data: TaskData) -> np.ndarray:
    if data.target_scale is None:
        return np.ones(data.output_size)
    return data.target_scale.double().numpy()


def _units(prediction: np.ndarray, split: SequenceSplit, scale: np.ndarray) -> dict[str, float]:
    """Scores in the data's units: errors of standardised targets times the target scale."""
    truth = split.y.double().numpy()
    return regression_scores(np.asarray(prediction) * scale, truth * scale)


def _each_metric(name: str, description: str, val: dict[str, float],
                 test: dict[str, float]) -> list[Baseline]:
    return [Baseline(name=name, metric=m, value=val[m], description=description,
                     test_value=test.get(m)) for m in val]
