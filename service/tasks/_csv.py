"""Read an uploaded CSV time series with the ``csv`` module, from bytes already bounded by
the upload limit; every refusal names the line and column."""

from __future__ import annotations

import csv
import io
import math

import numpy as np

from ..errors import DatasetError
from ._parsed import MAX_COLUMNS, MIN_ROWS, SeriesDataset
from ._time import parse_times


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
        # Blank lines are skipped, so each row keeps the line number an editor shows.
        numbered = [(reader.line_num, row) for row in reader if row]
    except csv.Error as exc:
        raise DatasetError(f"the file is not valid CSV: line {reader.line_num}: {exc}") from None
    if not numbered:
        raise DatasetError("the CSV file is empty; it needs a header row and data rows")
    header = [name.strip() for name in numbered[0][1]]
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
    lines = [line for line, _ in numbered[1:]]
    data = [row for _, row in numbered[1:]]
    if len(data) < MIN_ROWS:
        raise DatasetError(f"{len(data)} data rows are too few; at least {MIN_ROWS} are needed")
    index = {name: i for i, name in enumerate(header)}
    values = np.empty((len(data), len(value_columns)), dtype=np.float64)
    for r, (line, row) in enumerate(zip(lines, data, strict=True)):
        where = f"line {line} (data row {r + 1})"
        if len(row) != len(header):
            raise DatasetError(_field_count(row, header, where))
        for c, name in enumerate(value_columns):
            values[r, c] = _number(row[index[name]], f"{where}, column {name!r}")
    time = frequency = None
    if time_column is not None:
        time = [row[index[time_column]].strip() for row in data]
        frequency = parse_times(time, time_column, lines=lines)
    return SeriesDataset(
        columns=value_columns, values=values, target=value_columns.index(target),
        time_column=time_column, time=time, frequency=frequency,
    )


def _field_count(row: list[str], header: list[str], where: str) -> str:
    """Which columns a short row lacks, or how many extra fields a long one has."""
    where = f"{where} has {len(row)} fields, the header has {len(header)}"
    if len(row) < len(header):
        missing = header[len(row):]
        return f"{where}: no value for column {missing[0]!r}" + (
            f" and {len(missing) - 1} more" if len(missing) > 1 else "")
    return f"{where}: {len(row) - len(header)} more than there are columns"


def _number(cell: str, where: str) -> float:
    text = cell.strip()
    if not text:
        raise DatasetError(f"{where}: missing value; every value cell needs a number")
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(f"{where}: {text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise DatasetError(
            f"{where}: NaN or infinite value {text!r}; fill or drop the row before uploading"
        )
    return value
