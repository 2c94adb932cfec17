"""Parameter and condition definitions of a compiled search space."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CategoricalParam",
    "Condition",
    "ConditionOp",
    "FixedParam",
    "FloatParam",
    "IntParam",
    "Param",
]

ConditionOp = Literal["eq", "ne", "gt", "ge", "lt", "le", "in"]
CONDITION_OPS: tuple[str, ...] = ("eq", "ne", "gt", "ge", "lt", "le", "in")


@dataclass(frozen=True)
class Condition:
    """``param <op> value``: the owning parameter exists only while this holds."""

    param: str
    op: ConditionOp
    value: Any

    def holds(self, actual: Any) -> bool:
        if self.op == "eq":
            return bool(actual == self.value)
        if self.op == "ne":
            return bool(actual != self.value)
        if self.op == "in":
            return actual in self.value
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return False
        if self.op == "gt":
            return bool(actual > self.value)
        if self.op == "ge":
            return bool(actual >= self.value)
        if self.op == "lt":
            return bool(actual < self.value)
        return bool(actual <= self.value)

    def describe(self) -> dict[str, Any]:
        return {self.param: self.value if self.op == "eq" else {self.op: self.value}}


@dataclass(frozen=True)
class _ParamBase:
    name: str
    when: tuple[Condition, ...] = field(default=(), kw_only=True)

    def active(self, values: Mapping[str, Any]) -> bool:
        """True when every condition holds on the values chosen so far."""
        return all(c.param in values and c.holds(values[c.param]) for c in self.when)

    def _when_dict(self) -> dict[str, Any]:
        # Several tests on one parameter ({gt: 1, lt: 4}) must all survive the round trip.
        by_param: dict[str, list[Condition]] = {}
        for condition in self.when:
            by_param.setdefault(condition.param, []).append(condition)
        merged: dict[str, Any] = {}
        for param, conditions in by_param.items():
            if len(conditions) == 1:
                merged.update(conditions[0].describe())
            else:
                merged[param] = {c.op: c.value for c in conditions}
        return {"when": merged} if merged else {}


@dataclass(frozen=True)
class IntParam(_ParamBase):
    low: int
    high: int
    step: int = 1
    log: bool = False

    def can_satisfy(self, op: str, value: Any) -> bool:
        return _range_can_satisfy(self.low, self.high, op, value)

    def grid(self) -> list[Any]:
        return list(range(self.low, self.high + 1, self.step))

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "int", "low": self.low, "high": self.high}
        if self.step != 1:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        return out | self._when_dict()


@dataclass(frozen=True)
class FloatParam(_ParamBase):
    low: float
    high: float
    step: float | None = None
    log: bool = False

    def can_satisfy(self, op: str, value: Any) -> bool:
        return _range_can_satisfy(self.low, self.high, op, value)

    def grid(self) -> list[Any] | None:
        if self.step is None:
            return None
        count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        return [round(self.low + i * self.step, 12) for i in range(count)]

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "float", "low": self.low, "high": self.high}
        if self.step is not None:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        return out | self._when_dict()


@dataclass(frozen=True)
class CategoricalParam(_ParamBase):
    choices: tuple[Any, ...]

    def can_satisfy(self, op: str, value: Any) -> bool:
        probe = Condition(param=self.name, op=op, value=value)  # type: ignore[arg-type]
        return any(probe.holds(choice) for choice in self.choices)

    def grid(self) -> list[Any]:
        return list(self.choices)

    def describe(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": list(self.choices)} | self._when_dict()


@dataclass(frozen=True)
class FixedParam(_ParamBase):
    value: Any

    def can_satisfy(self, op: str, value: Any) -> bool:
        return Condition(param=self.name, op=op, value=value).holds(self.value)  # type: ignore[arg-type]

    def grid(self) -> list[Any]:
        return [self.value]

    def describe(self) -> dict[str, Any]:
        return {"type": "fixed", "value": self.value} | self._when_dict()


Param = IntParam | FloatParam | CategoricalParam | FixedParam


def _range_can_satisfy(low: float, high: float, op: str, value: Any) -> bool:
    if op == "in":
        return any(_is_number(v) and low <= v <= high for v in value)
    if op == "eq":
        return _is_number(value) and bool(low <= value <= high)
    if op == "ne":
        return low != high or low != value
    if op == "gt":
        return bool(high > value)
    if op == "ge":
        return bool(high >= value)
    if op == "lt":
        return bool(low < value)
    return bool(low <= value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
