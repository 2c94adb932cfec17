"""Bounds on a parsed document before any model sees it: nesting depth, and numbers that are
finite and of a sane size. A spec never needs more; without them a deep document ends in a
``RecursionError`` and a huge or infinite number in an ``OverflowError`` far from the input."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from service.errors import SpecError

__all__ = ["MAX_DEPTH", "MAX_NUMBER", "check_document"]

MAX_DEPTH = 32
# Larger than any count, size, bound or duration a spec can mean; exactly representable.
MAX_NUMBER = 1e15


def check_document(data: Any) -> None:
    """Raise ``SpecError`` naming the first value nested deeper than ``MAX_DEPTH`` or any
    number that is not finite or beyond +-``MAX_NUMBER``."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack:  # iterative: the depth check must not itself recurse
        value, loc = stack.pop()
        if len(loc) > MAX_DEPTH:
            raise SpecError(f"nested more than {MAX_DEPTH} levels deep", loc=loc[:MAX_DEPTH])
        if isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        if isinstance(value, int | float):
            # An int is compared as an int: past ~1e308 it has no float, and past 4,300
            # digits no str either, so both the check and the message avoid converting it.
            if isinstance(value, int):
                in_range = abs(value) <= MAX_NUMBER
            else:
                in_range = math.isfinite(value) and abs(value) <= MAX_NUMBER
            if not in_range:
                shown = (value if isinstance(value, float)
                         else f"an integer of {_digits(value)} digits")
                raise SpecError(f"{shown} is out of range: numbers must be finite and within "
                                f"+-{MAX_NUMBER:g}", loc=loc)
            continue
        if isinstance(value, Mapping):
            stack.extend((item, (*loc, str(key))) for key, item in value.items())
        elif isinstance(value, list | tuple):
            stack.extend((item, (*loc, index)) for index, item in enumerate(value))


def _digits(value: int) -> int:
    """Decimal digits of ``value``, without ``str()`` (refused past 4,300 digits)."""
    digits = int(abs(value).bit_length() * math.log10(2)) + 1
    smallest: int = 10 ** (digits - 1)
    return digits - (abs(value) < smallest)
