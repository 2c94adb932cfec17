"""Read an uploaded NPZ file: arrays only, never pickles, with every problem named.

Archives are checked for their declared unpacked size before anything is read (a small zip can
unpack to gigabytes) and read with ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

from ..errors import DatasetError
from ._parsed import (
    DEFAULT_TEST_FRACTION,
    DEFAULT_VAL_FRACTION,
    MAX_CLASSES,
    MIN_SAMPLES,
    SequenceDataset,
)
from ._prep import SPLIT_NAMES, split_counts

NPZ_KEYS = ("X", "y", "lengths", "split")


def parse_npz(
    content: bytes, *, kind: str | None = None, max_unpacked_bytes: int = 1 << 30
) -> SequenceDataset:
    """Validate ``content`` as an NPZ data set: ``X``, ``y`` and optional ``lengths``, ``split``.

    ``kind`` None reads it from ``y``: floats are regression targets, integers or strings
    class labels.
    """
    arrays = _read_npz(content, max_unpacked_bytes)
    unknown = sorted(set(arrays) - set(NPZ_KEYS))
    if unknown:
        raise DatasetError(
            f"unknown arrays {unknown} in the NPZ file; allowed: X, y, lengths (optional), "
            "split (optional)"
        )
    for key in ("X", "y"):
        if key not in arrays:
            raise DatasetError(f"the NPZ file has no array {key!r}; it needs X and y")
    x, lengths = _sequences(arrays["X"], arrays.get("lengths"), max_bytes=max_unpacked_bytes)
    n = x.shape[0]
    y = arrays["y"]
    if y.ndim == 0 or y.shape[0] != n:
        raise DatasetError(
            f"y has shape {y.shape}, but X holds {n} sequences; y needs one row per sequence"
        )
    split = _split(arrays["split"], n) if "split" in arrays else None
    if kind is None:
        kind = "regression" if y.dtype.kind == "f" else "classification"
    if kind == "classification":
        labels, classes = _labels(y)
        _check_classes(labels, classes, split)
        return SequenceDataset("classification", x, lengths, labels, classes, split,
                               label_type="int" if y.dtype.kind in "iu" else "str")
    targets = _targets(y)
    if n < MIN_SAMPLES:
        raise DatasetError(f"{n} samples are too few; at least {MIN_SAMPLES} are needed")
    if split is not None:
        carved = [name for code, name in enumerate(SPLIT_NAMES) if not (split == code).any()]
        if carved and int((split == 0).sum()) < 1 + len(carved):
            raise DatasetError(
                f"the given split has no {' or '.join(map(repr, carved))} part to carve from "
                f"its {int((split == 0).sum())} training samples; give at least "
                f"{1 + len(carved)}"
            )
    return SequenceDataset("regression", x, lengths, targets, [], split)


def _read_npz(content: bytes, max_unpacked_bytes: int) -> dict[str, np.ndarray]:
    buffer = io.BytesIO(content)
    if not zipfile.is_zipfile(buffer):
        raise DatasetError(
            "the file is not an NPZ archive (a zip of .npy arrays, as numpy.savez writes)"
        )
    try:
        with zipfile.ZipFile(buffer) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"the NPZ archive is damaged: {exc}") from None
    unpacked = sum(m.file_size for m in members)
    if unpacked > max_unpacked_bytes:
        raise DatasetError(
            f"the NPZ archive unpacks to {unpacked:,} bytes, over the limit of "
            f"{max_unpacked_bytes:,}"
        )
    bad = [m.filename for m in members if not m.filename.endswith(".npy")]
    if bad:
        raise DatasetError(f"the NPZ archive holds non-array members {bad[:5]}; only .npy")
    arrays: dict[str, np.ndarray] = {}
    buffer.seek(0)
    try:
        with np.load(buffer, allow_pickle=False) as archive:
            for key in archive.files:
                value = archive[key]
                if not isinstance(value, np.ndarray):  # a member without the .npy header
                    raise DatasetError(f"member {key}.npy of the NPZ file is not a .npy array")
                arrays[key] = value
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise DatasetError(
                "the NPZ file holds Python object arrays; only numeric and string arrays are "
                "accepted (data files are never unpickled)"
            ) from None
        raise DatasetError(f"the NPZ file holds an array numpy cannot read: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DatasetError(f"the NPZ file is damaged: {exc}") from None
    return arrays


def _sequences(
    x: np.ndarray, lengths: np.ndarray | None, *, max_bytes: int, max_steps: int | None = None,
    max_rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Padded float32 (N, T, F) and lengths from either layout; NaN padding is allowed.

    The padded size is checked against ``max_bytes`` before anything is allocated: in the
    ragged layout a few kilobytes of steps pad to N x max(lengths) x F (gigabytes when one
    sequence is long and many are short).
    """
    if x.dtype.kind not in "fiu":
        raise DatasetError(f"X must hold numbers, got dtype {x.dtype}")
    if lengths is not None:
        if lengths.dtype.kind not in "iu" or lengths.ndim != 1:
            raise DatasetError(
                f"lengths must be a 1-D integer array, got dtype {lengths.dtype} shape "
                f"{lengths.shape}"
            )
        lengths = lengths.astype(np.int64)
        if len(lengths) and int(lengths.min()) < 1:
            raise DatasetError(f"lengths must be at least 1, got {int(lengths.min())}")
    if x.ndim == 3:
        n, steps, features = x.shape
        if n == 0 or steps == 0 or features == 0:
            raise DatasetError(f"X has an empty dimension: shape {x.shape}")
        if lengths is not None:
            if lengths.shape != (n,):
                raise DatasetError(f"lengths has {len(lengths)} entries, X holds {n} sequences")
            if int(lengths.max()) > steps:
                raise DatasetError(
                    f"lengths go up to {int(lengths.max())}, past the {steps} steps of X"
                )
        _check_padded_size(n, steps, features, 0, max_bytes, max_steps=max_steps,
                           max_rows=max_rows)
        padded = x
    elif x.ndim == 2 and lengths is not None:
        # The ragged layout: every sequence's steps one after another, (total_steps, F).
        total, features = x.shape
        if int(lengths.sum()) != total or features == 0 or len(lengths) == 0:
            raise DatasetError(
                f"X has {total} rows but lengths add up to {int(lengths.sum())}; in the "
                "(total_steps, F) layout they must match"
            )
        steps = int(lengths.max())
        _check_padded_size(len(lengths), steps, features, x.dtype.itemsize, max_bytes,
                           max_steps=max_steps, max_rows=max_rows)
        padded = np.zeros((len(lengths), steps, features), dtype=x.dtype)
        mask = np.arange(steps)[None, :] < lengths[:, None]
        padded[mask] = x
    else:
        raise DatasetError(
            f"X must be (N, T, F), or (total_steps, F) with lengths; got shape {x.shape}"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        values = padded.astype(np.float32)
    mask = np.ones(values.shape[:2], dtype=bool) if lengths is None else (
        np.arange(values.shape[1])[None, :] < lengths[:, None]
    )
    bad = ~np.isfinite(values) & mask[:, :, None]
    if bad.any():
        sample, step, feature = (int(i) for i in np.argwhere(bad)[0])
        raise DatasetError(
            f"X holds {int(bad.sum())} NaN or infinite values (or values too large for "
            f"float32), the first at sample {sample}, step {step}, feature {feature}"
        )
    values[~mask] = 0.0
    if lengths is not None and bool((lengths == values.shape[1]).all()):
        lengths = None
    return values, lengths


def _check_padded_size(
    n: int, steps: int, features: int, itemsize: int, max_bytes: int, *,
    max_steps: int | None, max_rows: int | None,
) -> None:
    """Refuse an X whose padded float32 copy (plus the padded original and the step mask)
    would exceed ``max_bytes``, or that has more sequences or steps than allowed."""
    if max_rows is not None and n > max_rows:
        raise DatasetError(f"X holds {n:,} sequences; at most {max_rows:,} are allowed")
    if max_steps is not None and steps > max_steps:
        raise DatasetError(f"sequences of {steps:,} steps; at most {max_steps:,} are allowed")
    # float32 copy, padded original, temporary masks: about what parsing holds at once.
    needed = n * steps * (features * (4 + itemsize + 3) + 2)
    if needed > max_bytes:
        raise DatasetError(
            f"X pads to {n:,} sequences x {steps:,} steps x {features:,} features, "
            f"{needed:,} bytes in memory, over the limit of {max_bytes:,}"
        )


def _labels(y: np.ndarray) -> tuple[np.ndarray, list[str]]:
    if y.ndim != 1:
        raise DatasetError(f"class labels must be one per sequence (N,), got shape {y.shape}")
    if y.dtype.kind not in "iuU":
        what = "floats" if y.dtype.kind == "f" else f"dtype {y.dtype}"
        raise DatasetError(
            f"class labels must be integers or strings, got {what}; upload as kind=regression "
            "for numeric targets"
        )
    values, labels = np.unique(y, return_inverse=True)
    if len(values) < 2:
        raise DatasetError(f"classification needs at least 2 classes, y has {len(values)}")
    if len(values) > MAX_CLASSES:
        raise DatasetError(f"y has {len(values)} classes; at most {MAX_CLASSES} are allowed")
    return labels.astype(np.int64), [str(v) for v in values]


def _check_classes(labels: np.ndarray, classes: list[str], split: np.ndarray | None) -> None:
    if split is None:
        counts = np.bincount(labels, minlength=len(classes))
        needed = 1 + sum(split_counts(1, val_fraction=DEFAULT_VAL_FRACTION,
                                      test_fraction=DEFAULT_TEST_FRACTION))
        few = [f"{classes[i]!r} ({int(c)})" for i, c in enumerate(counts) if c < needed]
        if few:
            raise DatasetError(
                f"too few samples per class for a train/validation/test split: each class "
                f"needs at least {needed}; these have fewer: {', '.join(few[:10])}"
            )
        return
    missing = [classes[i] for i in range(len(classes)) if not (labels[split == 0] == i).any()]
    if missing:
        raise DatasetError(
            f"classes {missing[:10]} have no training sample in the given split; every class "
            "needs at least one"
        )
    carved = [name for code, name in enumerate(SPLIT_NAMES) if not (split == code).any()]
    if carved:
        # The missing parts are carved from the training part, stratified: each class needs
        # one training sample for each of them and one to keep.
        counts = np.bincount(labels[split == 0], minlength=len(classes))
        needed = 1 + len(carved)
        few = [f"{classes[i]!r} ({int(c)})" for i, c in enumerate(counts) if c < needed]
        if few:
            raise DatasetError(
                f"the given split has no {' or '.join(map(repr, carved))} part, so it is "
                f"carved from the training part by class: each class needs at least {needed} "
                f"training samples; these have fewer: {', '.join(few[:10])}"
            )


def _targets(y: np.ndarray) -> np.ndarray:
    if y.dtype.kind not in "fiu":
        raise DatasetError(f"regression targets must be numbers, got dtype {y.dtype}")
    if y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] == 0):
        raise DatasetError(f"regression targets must be (N,) or (N, K), got shape {y.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        targets = y.astype(np.float32).reshape(y.shape[0], -1)
    bad = ~np.isfinite(targets)
    if bad.any():
        raise DatasetError(
            f"y holds {int(bad.sum())} NaN or infinite values, the first at sample "
            f"{int(np.argwhere(bad)[0][0])}"
        )
    return targets


def _split(split: np.ndarray, n: int) -> np.ndarray:
    if split.shape != (n,) or split.dtype.kind != "U":
        raise DatasetError(
            f"split must be {n} strings, one per sequence, each 'train', 'val' or 'test'; got "
            f"dtype {split.dtype} shape {split.shape}"
        )
    unknown = sorted(set(split.tolist()) - set(SPLIT_NAMES))
    if unknown:
        raise DatasetError(f"split holds {unknown[:5]}; allowed values: train, val, test")
    codes = np.zeros(n, dtype=np.int8)
    for code, name in enumerate(SPLIT_NAMES):
        codes[split == name] = code
    if not (split == "train").any():
        raise DatasetError(
            "the given split has no 'train' sample; it needs a training part (a missing "
            "'val' or 'test' part is carved from it)"
        )
    # A missing val or test part is carved from the training part when a study loads it.
    return codes
