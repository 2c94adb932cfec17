"""The position in the season of a series' rows, read from its time column, as model inputs.

A calendar time column gives each row its place in a season: the month of monthly data, the
quarter of quarterly data, the weekday of daily data, the hour of hourly data. The position
is fed to a forecaster as ``sin`` and ``cos`` of ``2 pi position / length``: two inputs that
put December next to January, where a one-hot code would need ``length`` inputs and would
treat the two as unrelated. Yearly data and plain-number times have no season here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from ..errors import DatasetError
from ._time import time_keys

__all__ = [
    "KNOWN_FREQUENCIES",
    "SEASON_FEATURES",
    "Season",
    "features_from_times",
    "season_features",
    "season_of",
    "season_positions",
]

# The names of the two inputs appended after the series' own columns.
SEASON_FEATURES = ("season_sin", "season_cos")


@dataclass(frozen=True)
class Season:
    """A season read from the time column: what a position counts and how many there are."""

    unit: str  # month, quarter, weekday or hour
    length: int


# A frequency (as ``parse_times`` names it) -> its season. Irregular series count too: each
# row's position is read from its own time, so a gap does not shift the ones after it.
_SEASONS = {"monthly": Season("month", 12), "quarterly": Season("quarter", 4),
            "daily": Season("weekday", 7), "hourly": Season("hour", 24)}
KNOWN_FREQUENCIES = tuple(_SEASONS)


def season_of(frequency: str | None) -> Season | None:
    """The season of a series of ``frequency`` (``monthly``, ``irregular (most often
    daily)``, ...), or None when its times give none."""
    if frequency is None:
        return None
    if frequency.startswith("irregular (most often ") and frequency.endswith(")"):
        frequency = frequency.removeprefix("irregular (most often ").removesuffix(")")
    return _SEASONS.get(frequency)


def season_positions(times: list[str], season: Season, column: str) -> np.ndarray:
    """The position in ``season`` (0 to ``length - 1``) of each time in ``times``.

    Raises:
        DatasetError: a time is not one, or is a plain number (no calendar to read).
    """
    keys, form = time_keys(times, column)
    if form == "number":
        raise DatasetError(f"time column {column!r} holds plain numbers; the season needs "
                           "dates or date-times")
    return np.array([_position(key, season.unit) for key in keys], dtype=np.int64)


def _position(key: datetime, unit: str) -> int:
    if unit == "month":
        return key.month - 1
    if unit == "quarter":
        return (key.month - 1) // 3
    if unit == "weekday":
        return key.weekday()
    return key.hour


def season_features(positions: np.ndarray, length: int) -> np.ndarray:
    """(N, 2) float64: sin and cos of ``2 pi position / length`` for each position."""
    angle = 2.0 * math.pi * np.asarray(positions, dtype=np.float64) / length
    return np.stack([np.sin(angle), np.cos(angle)], axis=1)


def features_from_times(times: list[str], spec: Mapping[str, Any]) -> np.ndarray:
    """(N, 2) season inputs of ``times`` as a model file describes its season (``unit``,
    ``length``, ``time_column``): what the task appended to the training rows."""
    season = Season(unit=str(spec["unit"]), length=int(spec["length"]))
    positions = season_positions([str(t).strip() for t in times], season,
                                 str(spec.get("time_column", "time")))
    return season_features(positions, season.length)
