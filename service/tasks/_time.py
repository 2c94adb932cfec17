"""Read a CSV time column and name its frequency.

Monthly and yearly data is written ``2001-01`` and ``2001`` far more often than as full dates,
so both are read as the start of their period beside plain numbers and the ISO 8601 date-time
forms :meth:`datetime.fromisoformat` knows (``2001-01-31``, ``2001-01-31 12:00``,
``2001-01-31T12:00:00+00:00``, ...), ``2001-Q1`` quarters and ``2001/01/31`` dates. Day-first
and month-first forms (``31/01/2001``, ``01/31/2001``) are ambiguous and refused with a hint.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from ..errors import DatasetError

__all__ = ["parse_times", "time_keys"]

_YEAR = re.compile(r"^\d{4}$")
_YEAR_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_SLASHED = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(.*)$")
_AMBIGUOUS = re.compile(r"^\d{1,2}[/.]\d{1,2}[/.]\d{2,4}")

_FORMS = ("numbers, years (2001), year-months (2001-01), quarters (2001-Q1) or ISO 8601 dates "
          "and date-times (2001-01-31, 2001-01-31 12:00)")

# Named fixed steps, largest first; a step between them is written in units.
_FIXED = ((timedelta(weeks=1), "weekly"), (timedelta(days=1), "daily"),
          (timedelta(hours=1), "hourly"), (timedelta(minutes=1), "every minute"),
          (timedelta(seconds=1), "every second"))
_MONTHLY = {1: "monthly", 3: "quarterly", 6: "half-yearly", 12: "yearly"}


def parse_times(cells: list[str], column: str, *, lines: list[int] | None = None) -> str:
    """Check that ``cells`` hold times in one form that strictly increase; their frequency.

    ``lines`` are the cells' line numbers in the file (default: a header, then one per line).

    Returns:
        A short description such as ``monthly``, ``daily``, ``step 0.5`` or
        ``irregular (most often daily)``.

    Raises:
        DatasetError: a cell is in no accepted form (naming the line), the forms are mixed,
            or a time does not come after the one before it.
    """
    lines = lines or list(range(2, len(cells) + 2))
    keys, form = _keys(cells, column, lines)
    for i in range(1, len(keys)):
        try:
            later = keys[i] > keys[i - 1]
        except TypeError:  # date-times with and without a time zone
            raise DatasetError(
                f"time column {column!r} mixes date-times with and without a time zone "
                f"(line {lines[i]}: {cells[i]!r})"
            ) from None
        if not later:
            raise DatasetError(
                f"time column {column!r} must increase strictly; line {lines[i]} "
                f"({cells[i]!r}) does not come after {cells[i - 1]!r}"
            )
    return _frequency(keys, form)


def time_keys(
    cells: list[str], column: str, lines: list[int] | None = None
) -> tuple[list[Any], str]:
    """Sortable keys (datetimes, or floats for plain numbers) and the form of the whole
    column (the first cell decides it); ``DatasetError`` names a cell that is not a time."""
    return _keys(cells, column, lines or list(range(2, len(cells) + 2)))


def _keys(cells: list[str], column: str, lines: list[int]) -> tuple[list[Any], str]:
    """Sortable keys and the form of the whole column (the first cell decides it)."""
    first = cells[0] if cells else ""
    form = _form_of(first)
    if form == "year" and not all(_YEAR.match(c) for c in cells):
        form = "number"  # an index that passes 999 or 9999, not years
    if form is None:
        raise DatasetError(_unreadable(column, lines[0], first))
    keys: list[Any] = []
    for i, cell in enumerate(cells):
        key = _read(cell, form)
        if key is None:
            other = _form_of(cell)
            if other is not None:
                raise DatasetError(
                    f"time column {column!r} mixes forms: line {lines[i]} ({cell!r}) is a "
                    f"{other}, line {lines[0]} ({first!r}) a {form}; write every time the "
                    "same way"
                )
            raise DatasetError(_unreadable(column, lines[i], cell))
        keys.append(key)
    return keys, form


def _form_of(cell: str) -> str | None:
    for form in ("year", "year-month", "quarter", "number", "date-time"):
        if _read(cell, form) is not None:
            return form
    return None


def _read(cell: str, form: str) -> Any:
    """The cell's key in ``form``, or None when it is not written that way."""
    if form == "year":
        return datetime(int(cell), 1, 1) if _YEAR.match(cell) else None
    if form == "year-month":
        match = _YEAR_MONTH.match(cell)
        if match is None or not 1 <= int(match[2]) <= 12:
            return None
        return datetime(int(match[1]), int(match[2]), 1)
    if form == "quarter":
        match = _QUARTER.match(cell)
        return None if match is None else datetime(int(match[1]), 3 * int(match[2]) - 2, 1)
    if form == "number":
        try:
            return float(cell)
        except ValueError:
            return None
    slashed = _SLASHED.match(cell)
    if slashed is not None:
        year, month, day, rest = slashed.groups()
        cell = f"{year}-{int(month):02d}-{int(day):02d}{rest}"
    try:
        return datetime.fromisoformat(cell)
    except ValueError:
        return None


def _unreadable(column: str, line: int, cell: str) -> str:
    hint = ""
    if _AMBIGUOUS.match(cell):
        hint = " (day-first and month-first dates are ambiguous; write them year first)"
    return (f"time column {column!r}, line {line}: {cell[:40]!r} is not a time{hint}; "
            f"allowed: {_FORMS}")


def _frequency(keys: list[Any], form: str) -> str:
    if len(keys) < 2:
        return "single time"
    if form == "number":
        steps = Counter(round(b - a, 12) for a, b in pairwise(keys))
        return _summary(steps, lambda step: f"step {step:g}")
    months = Counter((b.year - a.year) * 12 + b.month - a.month
                     for a, b in pairwise(keys))
    midnight = all(k.time() == keys[0].time() for k in keys)
    same_day = all(k.day == keys[0].day for k in keys)
    month_end = all((k + timedelta(days=1)).day == 1 for k in keys)
    if form in ("year", "year-month", "quarter") or (
        midnight and (same_day or month_end) and 0 not in months
    ):
        return _summary(months, _months_name)
    steps = Counter(b - a for a, b in pairwise(keys))
    return _summary(steps, _step_name)


def _summary(steps: Counter[Any], name: Any) -> str:
    common, count = steps.most_common(1)[0]
    if count == sum(steps.values()):
        return str(name(common))
    return f"irregular (most often {name(common)})"


def _months_name(months: int) -> str:
    return _MONTHLY.get(months, f"every {months} months")


def _step_name(step: timedelta) -> str:
    for unit, name in _FIXED:
        if step == unit:
            return name
    for unit, plural in ((timedelta(days=1), "days"), (timedelta(hours=1), "hours"),
                         (timedelta(minutes=1), "minutes")):
        if step % unit == timedelta(0):
            return f"every {step // unit} {plural}"
    return f"every {step.total_seconds():g} seconds"
