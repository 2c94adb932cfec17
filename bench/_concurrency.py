"""Whether parallel workers duplicate effort: near-identical configurations trained at once.

Two trials are concurrent when the intervals during which they held a worker overlap. They are
near duplicates when every categorical parameter is equal and every numeric one lies within
``tolerance`` of the other, measured as a share of the parameter's range (on the log scale for
log parameters). A sampler that ignores running trials (TPE without a constant liar, say) hands
two idle workers the same region of the space at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

from bench._anytime import RunRecord, TrialRecord

__all__ = ["concurrent_pairs", "near_duplicate"]


def _position(value: Any, param: Mapping[str, Any]) -> float:
    low, high = float(param["low"]), float(param["high"])
    if param.get("log"):
        return (math.log(float(value)) - math.log(low)) / (math.log(high) - math.log(low))
    return (float(value) - low) / (high - low)


def near_duplicate(a: Mapping[str, Any], b: Mapping[str, Any], space: Mapping[str, Any], *,
                   tolerance: float = 0.05) -> bool:
    """Whether configurations ``a`` and ``b`` of ``space`` ({"params": ...}) nearly coincide."""
    for name, param in space["params"].items():
        if not isinstance(param, dict) or (name not in a and name not in b):
            continue
        if (name in a) != (name in b):
            return False  # a conditional parameter active in one only
        if param["type"] == "categorical":
            if a[name] != b[name]:
                return False
        elif abs(_position(a[name], param) - _position(b[name], param)) > tolerance:
            return False
    return True


def _overlap(x: TrialRecord, y: TrialRecord) -> bool:
    return any(s1 < e2 and s2 < e1 for s1, e1 in x.busy for s2, e2 in y.busy)


def concurrent_pairs(run: RunRecord, space: Mapping[str, Any], *,
                     tolerance: float = 0.05) -> tuple[int, int]:
    """(pairs of trials that ran at the same time, of which near duplicates) in ``run``."""
    pairs = near = 0
    trials: Sequence[TrialRecord] = [t for t in run.trials if t.busy and t.params]
    for x, y in combinations(trials, 2):
        if _overlap(x, y):
            pairs += 1
            near += near_duplicate(x.params, y.params, space, tolerance=tolerance)
    return pairs, near
