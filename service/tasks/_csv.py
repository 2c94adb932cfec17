"""Read an uploaded CSV time series with the ``csv`` module, from bytes already bounded by
the upload limit; every refusal names the line and column."""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime
from typing import Any

import numpy as np

from ..errors import DatasetError
from ._parsed import MAX_COLUMNS, MIN_ROWS, SeriesDataset


def parse_csv(
    content: bytes, *, target: str | None = None, time_column: str | None = None
) -> SeriesDataset:
    """Validate ``content`` as a CSV time series: a header, rows in time order, numeric value
    columns, the ``target`` named unless it is the only one."""
    if b"\x00" in content:
        raise DatasetError("the file holds binary data (NUL bytes); it is not CSV text")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"the CSV file is not UTF-8 text: {exc}") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = [row for row in reader if row]
    except csv.Error as exc:
        raise DatasetError(f"the file is not valid CSV: line {reader.line_num}: {exc}") from None
    if not rows:
        raise DatasetError("the CSV file is empty; it needs a header row and data rows")
    header = [name.strip() for name in rows[0]]
    if any(not name for name in header) or len(set(header)) != len(header):
        raise DatasetError(f"the header must name every column once, got {header[:20]}")
    if len(header) > MAX_COLUMNS:
        raise DatasetError(f"{len(header)} columns; at most {MAX_COLUMNS} are allowed")
    if time_column is not None and time_column not in header:
        raise DatasetError(f"time_column {time_column!r} is not a column; columns: {header}")
    value_columns = [name for name in header if name != time_column]
    if not value_columns:
        raise DatasetError("the CSV file has no value column besides the time column")
    if target is None:
        if len(value_columns) > 1:
            raise DatasetError(
                f"name the target column: one of {value_columns} (target=...)"
            )
        target = value_columns[0]
    if target not in value_columns:
        raise DatasetError(f"target {target!r} is not a value column; columns: {value_columns}")
    data = rows[1:]
    if len(data) < MIN_ROWS:
        raise DatasetError(f"{len(data)} data rows are too few; at least {MIN_ROWS} are needed")
    index = {name: i for i, name in enumerate(header)}
    values = np.empty((len(data), len(value_columns)), dtype=np.float64)
    for r, row in enumerate(data):
        line = r + 2
        if len(row) != len(header):
            raise DatasetError(f"line {line} has {len(row)} fields, the header has {len(header)}")
        for c, name in enumerate(value_columns):
            values[r, c] = _number(row[index[name]], line, name)
    time = None
    if time_column is not None:
        time = [row[index[time_column]].strip() for row in data]
        _check_increasing(time, time_column)
    return SeriesDataset(
        columns=value_columns, values=values, target=value_columns.index(target),
        time_column=time_column, time=time,
    )


def _number(cell: str, line: int, column: str) -> float:
    text = cell.strip()
    if not text:
        raise DatasetError(f"line {line}, column {column!r}: missing value")
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(
            f"line {line}, column {column!r}: {text[:40]!r} is not a number"
        ) from None
    if not math.isfinite(value):
        raise DatasetError(f"line {line}, column {column!r}: NaN or infinite value {text!r}")
    return value


def _check_increasing(time: list[str], column: str) -> None:
    keys: list[Any]
    try:
        keys = [float(t) for t in time]
    except ValueError:
        try:
            keys = [datetime.fromisoformat(t) for t in time]
        except ValueError:
            raise DatasetError(
                f"time column {column!r} must hold numbers or ISO 8601 dates"
            ) from None
    for i in range(1, len(keys)):
        try:
            later = keys[i] > keys[i - 1]
        except TypeError:  # dates with and without a time zone
            raise DatasetError(
                f"time column {column!r} mixes dates with and without a time zone"
            ) from None
        if not later:
            raise DatasetError(
                f"time column {column!r} must increase strictly; line {i + 2} "
                f"({time[i]!r}) does not come after {time[i - 1]!r}"
            )
