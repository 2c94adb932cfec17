"""A study's best model as one file: weights, configuration and the preprocessing it needs.

The file is ``torch.save`` of a plain dict (tensors, numbers, strings, lists and dicts only),
so :func:`load_model` reads it with ``torch.load(weights_only=True)``, never unpickling code:

    format, version        "rnntune-model", 1
    config                 the SequenceModelConfig as a dict
    state_dict             the trained weights
    kind, metric           task kind; the study's objective metric
    preprocessing          layout ("sequences" or "series"), input mean/std, target mean/std,
                           window, horizon, columns, class labels, and for seasonal inputs
                           the season (unit, length, time column) (see ``TaskData``)
    task, study, test      the task spec, where the model comes from, its test metrics
    members                (a seed ensemble only) every member's weights; ``state_dict`` is
                           the first's, so a reader that ignores this key serves one seed

``load_model(path)`` gives a :class:`LoadedModel` whose ``predict`` takes raw input in the
study's input layout and returns predictions in the data's own units and labels.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import DatasetError
from ._config import SequenceModelConfig
from ._ensemble import SeedEnsemble
from ._model import SequenceModel

__all__ = ["BUNDLE_FORMAT", "BUNDLE_VERSION", "LoadedModel", "build_bundle", "load_model"]

BUNDLE_FORMAT = "rnntune-model"
BUNDLE_VERSION = 1
_BATCH = 1024


def build_bundle(
    model: SequenceModel | SeedEnsemble,
    *,
    kind: str,
    metric: str,
    preprocessing: Mapping[str, Any],
    task: Mapping[str, Any] | None = None,
    study: Mapping[str, Any] | None = None,
    test: Mapping[str, float] | None = None,
) -> bytes:
    """Serialise ``model`` (weights copied to the CPU) with what is needed to use it; a
    ``SeedEnsemble`` keeps every member."""
    members = list(model.members) if isinstance(model, SeedEnsemble) else [model]
    states = [{k: v.detach().cpu().clone() for k, v in m.state_dict().items()} for m in members]
    bundle: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "config": dataclasses.asdict(model.config),
        "state_dict": states[0],
        "kind": kind,
        "metric": metric,
        "preprocessing": _plain(dict(preprocessing)),
        "task": _plain(dict(task or {})),
        "study": _plain(dict(study or {})),
        "test": {k: float(v) for k, v in (test or {}).items()},
    }
    if isinstance(model, SeedEnsemble):
        bundle["members"] = states
    buffer = io.BytesIO()
    torch.save(bundle, buffer)
    return buffer.getvalue()


def _plain(value: Any) -> Any:
    """JSON-shaped copy (so ``weights_only`` loading accepts it): numpy scalars become floats."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item")
                                 else str(v)))


def load_model(source: str | Path | bytes, *, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model file written by ``rnntune export`` / ``GET /v1/studies/{id}/model``.

    ``source`` is a path or the file's bytes. The result is ready: ``.predict(x)`` applies the
    study's normalisation and maps outputs back to the data's units or class labels.
    """
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        bundle = torch.load(io.BytesIO(raw), map_location=device, weights_only=True)
    except Exception as exc:
        raise ValueError(f"not an rnntune model file: {exc}") from None
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise ValueError("not an rnntune model file (no 'rnntune-model' format marker)")
    if int(bundle.get("version", 0)) > BUNDLE_VERSION:
        raise ValueError(
            f"model file version {bundle['version']} is newer than this rnntune reads "
            f"({BUNDLE_VERSION}); upgrade rnntune"
        )
    return LoadedModel(bundle, device=torch.device(device))


class LoadedModel:
    """A study's best model with its preprocessing.

    ``module`` is the ``SequenceModel`` (or, for a seed ensemble, the ``SeedEnsemble`` of its
    members) in eval mode (it takes normalised input);
    :meth:`predict` takes raw input: (N, T, F) sequences with optional ``lengths`` (N,), or
    for a ``series`` layout the rows of the series (see :meth:`predict_series`).
    """

    def __init__(self, bundle: Mapping[str, Any], *, device: torch.device) -> None:
        self.bundle = bundle
        self.config = SequenceModelConfig(**bundle["config"])
        self.kind: str = bundle["kind"]
        self.metric: str = bundle.get("metric", "loss")
        self.preprocessing: dict[str, Any] = dict(bundle.get("preprocessing") or {})
        self.task: dict[str, Any] = dict(bundle.get("task") or {})
        self.study: dict[str, Any] = dict(bundle.get("study") or {})
        self.test: dict[str, float] = dict(bundle.get("test") or {})
        self.device = device
        self.module: SequenceModel | SeedEnsemble = _module(
            self.config, bundle, classification=self.kind == "classification").to(device)
        self.module.eval().requires_grad_(False)
        prep = self.preprocessing
        self._in_mean, self._in_std = _pair(prep.get("input"))
        self._out_mean, self._out_std = _pair(prep.get("target"))
        self.classes: list[Any] | None = prep.get("classes")

    # -- facts -------------------------------------------------------------------------

    @property
    def layout(self) -> str:
        """``sequences`` (NPZ-style X) or ``series`` (rows of a time series, CSV-style)."""
        return str(self.preprocessing.get("layout", "sequences"))

    @property
    def input_size(self) -> int:
        return self.config.input_size

    @property
    def n_members(self) -> int:
        """How many seed runs the predictions average (1: a single model)."""
        return len(self.module.members) if isinstance(self.module, SeedEnsemble) else 1

    def __repr__(self) -> str:
        members = f", members={self.n_members}" if self.n_members > 1 else ""
        return (f"LoadedModel(kind={self.kind!r}, cell={self.config.cell!r}, "
                f"hidden_size={self.config.hidden_size}, layout={self.layout!r}{members})")

    # -- prediction --------------------------------------------------------------------

    def prepare(self, x: Any, lengths: Any = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Raw (N, T, F) input to the model's normalised float32 tensors (padding zeroed)."""
        array = np.asarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x)
        if array.ndim == 2 and self.config.input_size == 1 and lengths is None:
            array = array[:, :, None]  # (N, T) of a one-feature series
        if array.ndim != 3:
            raise DatasetError(f"X must be (N, T, F), got shape {array.shape}")
        if array.shape[2] != self.config.input_size:
            raise DatasetError(
                f"X has {array.shape[2]} features per step; this model takes "
                f"{self.config.input_size}" + (
                    " (the last two the season's sin and cos: predict_series(rows, times) "
                    "builds them)" if self.preprocessing.get("season") else "")
            )
        if array.shape[0] == 0 or array.shape[1] == 0:
            raise DatasetError(f"X has an empty dimension: shape {array.shape}")
        n, steps = array.shape[0], array.shape[1]
        lens = None
        if lengths is not None:
            lens = np.asarray(lengths.cpu().numpy() if isinstance(lengths, torch.Tensor)
                              else lengths).astype(np.int64).reshape(-1)
            if lens.shape != (n,) or int(lens.min()) < 1 or int(lens.max()) > steps:
                raise DatasetError(f"lengths must be {n} integers in [1, {steps}]")
        values = array.astype(np.float64)
        if self._in_mean is not None and self._in_std is not None:
            values = (values - self._in_mean) / self._in_std
        out = values.astype(np.float32)
        if lens is not None:
            out[~(np.arange(steps)[None, :] < lens[:, None])] = 0.0
            if bool((lens == steps).all()):
                lens = None
        mask = np.isfinite(out)
        if not mask.all():
            raise DatasetError("X holds NaN or infinite values")
        tensor_lengths = None if lens is None else torch.from_numpy(lens)
        return torch.from_numpy(out), tensor_lengths

    @torch.no_grad()
    def output(self, x: Any, lengths: Any = None) -> torch.Tensor:
        """The module's raw output for raw input: logits, or normalised values, (N, K)."""
        inputs, lens = self.prepare(x, lengths)
        outputs = []
        for start in range(0, inputs.shape[0], _BATCH):
            batch = inputs[start : start + _BATCH].to(self.device)
            if lens is None:
                out = self.module(batch)
            else:
                out = self.module(batch, lens[start : start + _BATCH])
            outputs.append(out.float().cpu())
        return torch.cat(outputs)

    def predict(self, x: Any, lengths: Any = None) -> np.ndarray:
        """Predictions for raw input: (N, K) values in the data's units (regression,
        forecasting) or (N,) class labels (classification)."""
        if self.layout == "series" and np.asarray(x).ndim == 2 and lengths is None:
            return self.predict_series(x)[1]
        out = self.output(x, lengths)
        if self.kind == "classification":
            index = out.argmax(dim=1).numpy()
            labels: np.ndarray = np.asarray(self.classes)[index] if self.classes else index
            return labels
        return self._to_units(out)

    def predict_proba(self, x: Any, lengths: Any = None) -> np.ndarray:
        """Class probabilities (N, C), in the order of :attr:`labels`."""
        if self.kind != "classification":
            raise ValueError(f"predict_proba needs a classification model, this is {self.kind}")
        return torch.softmax(self.output(x, lengths).double(), dim=1).numpy()

    @property
    def labels(self) -> list[Any]:
        """The class labels in output order (classification)."""
        return list(self.classes) if self.classes else list(range(self.config.output_size))

    def predict_series(self, rows: Any, times: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Forecasts from the rows of a series (rows, columns) in the study's column order.

        A model trained with seasonal inputs needs each row's time (``times``, as written in
        the data set's time column): the season's inputs are built from it as in training.

        Returns ``(targets, values)``: for every full window of ``window`` rows ending at row
        ``e``, the row ``e + horizon`` it forecasts (past the last row: the future) and the
        forecast (N, 1) in the data's units.
        """
        window = int(self.preprocessing.get("window") or 0)
        horizon = int(self.preprocessing.get("horizon") or 1)
        values = np.asarray(rows, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        if window < 1:
            raise ValueError("this model was not trained on windows of a series")
        if values.ndim != 2 or values.shape[0] < window:
            raise DatasetError(
                f"the series needs at least {window} rows (the model's window), got "
                f"{values.shape[0] if values.ndim else 0}"
            )
        values = self._with_season(values, times)
        ends = np.arange(window - 1, values.shape[0])
        index = ends[:, None] - window + 1 + np.arange(window)[None, :]
        return ends + horizon, self.predict(values[index])

    def _with_season(self, values: np.ndarray, times: Any) -> np.ndarray:
        """The rows with the season's inputs appended, when the model was trained on them."""
        season = self.preprocessing.get("season")
        if not season:
            return values
        column = season.get("time_column")
        if times is None:
            raise DatasetError(f"this model reads the season from the time column {column!r}: "
                               "give each row's time (times=..., or that column in the CSV)")
        cells = list(times)
        if len(cells) != values.shape[0]:
            raise DatasetError(f"{len(cells)} times for {values.shape[0]} rows; give one each")
        from service.tasks._season import features_from_times

        return np.concatenate([values, features_from_times(cells, season)], axis=1)

    def _to_units(self, out: torch.Tensor) -> np.ndarray:
        values = out.double().numpy()
        if self._out_mean is not None and self._out_std is not None:
            values = values * self._out_std + self._out_mean
        return values

    # -- export ------------------------------------------------------------------------

    def to_torchscript(self) -> torch.jit.ScriptModule:
        """A TorchScript module with the preprocessing built in: it maps raw (N, T, F) input of
        full-length sequences to values in the data's units, or to class logits."""
        wrapper = _Wrapped(self).eval()
        example = torch.zeros(2, int(self.preprocessing.get("window") or 4),
                              self.config.input_size)
        with torch.no_grad(), warnings.catch_warnings():
            # The trace is fixed to the layer count and direction, which never change.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
            warnings.simplefilter("ignore", DeprecationWarning)
            traced: torch.jit.ScriptModule = torch.jit.trace(  # type: ignore[no-untyped-call]
                wrapper, example, check_trace=False)
        return traced

    def torchscript_bytes(self) -> bytes:
        """:meth:`to_torchscript` saved, with the bundle's metadata as ``rnntune.json``."""
        meta = {key: self.bundle.get(key) for key in ("kind", "metric", "preprocessing",
                                                       "task", "study", "test", "config")}
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is still supported
            torch.jit.save(self.to_torchscript(), buffer,
                           _extra_files={"rnntune.json": json.dumps(meta)})
        return buffer.getvalue()


class _Wrapped(nn.Module):
    in_mean: torch.Tensor
    in_std: torch.Tensor
    out_mean: torch.Tensor
    out_std: torch.Tensor

    def __init__(self, loaded: LoadedModel) -> None:
        super().__init__()
        self.model = loaded.module
        n_in, n_out = loaded.config.input_size, loaded.config.output_size
        regression = loaded.kind != "classification"

        def buffer(values: np.ndarray | None, size: int, fill: float) -> torch.Tensor:
            if values is None:
                return torch.full((size,), fill, dtype=torch.float32)
            return torch.as_tensor(values, dtype=torch.float32).reshape(size)

        self.register_buffer("in_mean", buffer(loaded._in_mean, n_in, 0.0))
        self.register_buffer("in_std", buffer(loaded._in_std, n_in, 1.0))
        use_out = regression and loaded._out_mean is not None
        self.register_buffer("out_mean", buffer(loaded._out_mean if use_out else None, n_out, 0.0))
        self.register_buffer("out_std", buffer(loaded._out_std if use_out else None, n_out, 1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model((x - self.in_mean) / self.in_std)
        return out * self.out_std + self.out_mean


def _module(config: SequenceModelConfig, bundle: Mapping[str, Any], *,
            classification: bool) -> SequenceModel | SeedEnsemble:
    def load(state: Mapping[str, Any]) -> SequenceModel:
        model = SequenceModel(config)
        model.load_state_dict(state)
        return model

    members = bundle.get("members")
    if members:
        return SeedEnsemble([load(state) for state in members], classification=classification)
    return load(bundle["state_dict"])


def _pair(part: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    if not part:
        return None, None
    return (np.asarray(part["mean"], dtype=np.float64), np.asarray(part["std"], dtype=np.float64))


# -- reading prediction input --------------------------------------------------------------


def read_input(
    model: LoadedModel, content: bytes, *, format: str | None = None,
    max_bytes: int = 1 << 30, max_rows: int = 100_000, max_steps: int = 5_000,
) -> dict[str, Any]:
    """Predict on a file in the study's input format; a JSON-ready result.

    NPZ: ``X`` (N, T, F) or (total_steps, F) with ``lengths``, read without pickles. CSV (a
    series model): a header naming the study's columns, rows in time order. Sizes are
    checked before anything large is allocated: unpacked and padded bytes against
    ``max_bytes``, sequences or CSV rows against ``max_rows``, steps against ``max_steps``.
    """
    fmt = format or ("csv" if model.layout == "series" else "npz")
    if fmt == "csv":
        if model.layout != "series":
            raise DatasetError("this model takes NPZ input (X and optional lengths), not CSV")
        rows, times = _series_rows(content, model.preprocessing, max_rows=max_rows)
        targets, values = model.predict_series(rows, times)
        return _result(model, values, for_rows=targets.tolist())
    if fmt != "npz":
        raise DatasetError(f"unknown input format {fmt!r}; use npz or csv")
    from service.tasks._npz import _read_npz, _sequences

    arrays = _read_npz(content, max_bytes)
    unknown = sorted(set(arrays) - {"X", "lengths", "y", "split"})
    if "X" not in arrays or unknown:
        raise DatasetError("the NPZ file needs an array X (and optionally lengths)")
    x, lengths = _sequences(arrays["X"], arrays.get("lengths"), max_bytes=max_bytes,
                            max_steps=max_steps, max_rows=max_rows)
    if model.kind == "classification":
        probs = model.predict_proba(x, lengths)
        labels = np.asarray(model.labels)[probs.argmax(axis=1)]
        return _result(model, labels, probabilities=probs)
    return _result(model, model.predict(x, lengths))


def _result(model: LoadedModel, predictions: np.ndarray, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "kind": model.kind, "n": len(predictions),
        "predictions": [_json_value(v) for v in predictions.tolist()],
    }
    if "probabilities" in extra:
        result["labels"] = [_json_value(v) for v in model.labels]
        result["probabilities"] = extra["probabilities"].tolist()
    if "for_rows" in extra:
        result["for_rows"] = extra["for_rows"]
    return result


def _json_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _series_rows(
    content: bytes, prep: Mapping[str, Any], *, max_rows: int
) -> tuple[np.ndarray, list[str] | None]:
    """The value columns of a CSV input, and its time column when the model reads the season
    from it."""
    columns = list(prep.get("columns") or [])
    try:
        text = content.decode("utf-8-sig")
        rows: list[list[str]] = []
        for row in csv.reader(io.StringIO(text, newline=""), strict=True):
            if not row:
                continue
            # Bounded as it is read: a few bytes a row would otherwise make millions of lists.
            if len(rows) > max_rows:
                raise DatasetError(f"the CSV input has over {max_rows:,} rows, the most one "
                                   "prediction takes")
            rows.append(row)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"the input is not CSV text: {exc}") from None
    if not rows:
        raise DatasetError(f"the CSV file is empty; it needs a header with {columns}")
    header = [name.strip() for name in rows[0]]
    if len(header) == len(columns) == 1 and header[0] not in columns:
        picks = [0]  # one value column under another name
    else:
        missing = [c for c in columns if c not in header]
        if missing:
            raise DatasetError(f"the CSV file lacks columns {missing}; the model reads {columns}")
        picks = [header.index(c) for c in columns]
    values = np.empty((len(rows) - 1, len(picks)), dtype=np.float64)
    for r, row in enumerate(rows[1:]):
        for c, index in enumerate(picks):
            try:
                values[r, c] = float(row[index])
            except (ValueError, IndexError):
                raise DatasetError(
                    f"line {r + 2}, column {header[index]!r}: not a number"
                ) from None
    if not np.isfinite(values).all():
        raise DatasetError("the CSV file holds NaN or infinite values")
    time_column = (prep.get("season") or {}).get("time_column")
    if time_column is None:
        return values, None
    if time_column not in header:
        raise DatasetError(f"the CSV file lacks the time column {time_column!r}; the model reads "
                           "the season from it")
    at = header.index(time_column)
    return values, [row[at] if at < len(row) else "" for row in rows[1:]]
