"""Parse and validate users' data files: NPZ sequences and CSV time series.

Nothing here trusts the file. NPZ archives are read with ``allow_pickle=False`` after their
declared unpacked size is checked (a small zip can unpack to gigabytes); CSV is read with the
``csv`` module from bytes already bounded by the upload limit. Every refusal is a
:class:`DatasetError` that says what was wrong, where, and what is allowed.
"""

from __future__ import annotations

from ..errors import DatasetError
from ._csv import parse_csv
from ._npz import parse_npz
from ._parsed import DatasetFormat, ParsedDataset

__all__ = ["FORMATS", "format_of", "parse_dataset"]

FORMATS: tuple[DatasetFormat, ...] = ("npz", "csv")


def format_of(filename: str | None, declared: str | None) -> DatasetFormat:
    """The declared format, or the one the file name ends with."""
    if declared is not None:
        if declared.lower() not in FORMATS:
            raise DatasetError(f"unknown format {declared!r}; valid formats are: npz, csv")
        return "npz" if declared.lower() == "npz" else "csv"
    suffix = (filename or "").rsplit(".", 1)[-1].lower() if "." in (filename or "") else ""
    if suffix == "npz":
        return "npz"
    if suffix == "csv":
        return "csv"
    raise DatasetError(
        f"cannot tell the format of {filename!r}; name it *.npz or *.csv, or pass format=npz "
        "or format=csv"
    )


def parse_dataset(
    content: bytes,
    *,
    format: DatasetFormat,
    kind: str | None = None,
    target: str | None = None,
    time_column: str | None = None,
    max_unpacked_bytes: int = 1 << 30,
) -> ParsedDataset:
    """Parse and validate ``content`` as ``format``.

    Raises:
        DatasetError: the content is not that format, or not usable (see the module doc).
    """
    if kind is not None and kind not in ("classification", "regression", "forecasting"):
        raise DatasetError(
            f"unknown kind {kind!r}; valid kinds are: classification, forecasting, regression"
        )
    if format == "npz":
        if kind == "forecasting":
            raise DatasetError("forecasting data sets are CSV time series, not NPZ")
        if target is not None or time_column is not None:
            raise DatasetError("target and time_column apply to CSV time series only")
        return parse_npz(content, kind=kind, max_unpacked_bytes=max_unpacked_bytes)
    if kind not in (None, "forecasting"):
        raise DatasetError(
            f"CSV files are time series for forecasting; upload {kind} data as NPZ"
        )
    return parse_csv(content, target=target, time_column=time_column)
