"""Compile a declarative search space (YAML/JSON mapping) into a validated ``SearchSpace``.

Every problem is collected with its location, so one 422 tells the user all that is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

from service.errors import SpecError
from service.spaces._catalog import CATALOG, HParam
from service.spaces._params import (
    CONDITION_OPS,
    CategoricalParam,
    Condition,
    ConditionOp,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
)
from service.spaces._space import SearchSpace

__all__ = ["compile_space"]

_KEYS_BY_TYPE: dict[str, set[str]] = {
    "int": {"type", "low", "high", "step", "log", "when"},
    "float": {"type", "low", "high", "step", "log", "when"},
    "categorical": {"type", "choices", "when"},
    "fixed": {"type", "value", "when"},
}

Loc = tuple[str | int, ...]


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[Loc, str]] = []

    def add(self, loc: Sequence[str | int], message: str) -> None:
        self.items.append((tuple(loc), message))


def compile_space(
    raw: Any,
    *,
    allows_bidirectional: bool = True,
    task_kind: str | None = None,
    loc: Sequence[str | int] = ("search_space",),
) -> SearchSpace:
    """Validate ``raw`` completely and return the compiled space, or raise ``SpecError``.

    With ``task_kind``, hyperparameters meant for other kinds of task (``window`` outside
    forecasting) are refused.
    """
    base: Loc = tuple(loc)
    problems = _Problems()
    if not isinstance(raw, Mapping):
        raise SpecError("a search space must be a mapping with a 'params' key", loc=base)
    unknown_top = set(raw) - {"params", "description"}
    if unknown_top:
        problems.add(base, f"unknown keys {sorted(unknown_top)}; allowed: params, description")
    params_raw = raw.get("params")
    if not isinstance(params_raw, Mapping) or not params_raw:
        problems.add((*base, "params"), "must be a non-empty mapping of hyperparameter names")
        _raise(problems)
        raise AssertionError("unreachable")
    params: list[Param] = []
    by_name: dict[str, Param] = {}
    for name, spec in params_raw.items():
        where = (*base, "params", str(name))
        param = _compile_param(str(name), spec, where, by_name, problems)
        if param is not None:
            params.append(param)
            by_name[param.name] = param
    _check_bidirectional(by_name, allows_bidirectional, (*base, "params"), problems)
    _check_task_kind(by_name, task_kind, (*base, "params"), problems)
    _raise(problems)
    return SearchSpace(tuple(params), description=str(raw.get("description", "")))


def _raise(problems: _Problems) -> None:
    if not problems.items:
        return
    first_loc, first_msg = problems.items[0]
    summary = first_msg if len(problems.items) == 1 else (
        f"{first_msg} (and {len(problems.items) - 1} more problem(s))"
    )
    raise SpecError(summary, loc=first_loc, details=problems.items)


def _compile_param(
    name: str, spec: Any, where: Loc, known: Mapping[str, Param], problems: _Problems
) -> Param | None:
    hparam = CATALOG.get(name)
    if hparam is None:
        problems.add(
            where, f"unknown hyperparameter {name!r}; tunable names are: {', '.join(CATALOG)}"
        )
        return None
    if not isinstance(spec, Mapping):
        spec = {"type": "fixed", "value": spec}
    kind = spec.get("type")
    if not isinstance(kind, str) or kind not in _KEYS_BY_TYPE:
        problems.add((*where, "type"), f"{kind!r} is not a parameter type; use one of "
                     f"{', '.join(_KEYS_BY_TYPE)}")
        return None
    extra = set(spec) - _KEYS_BY_TYPE[kind]
    if extra:
        problems.add(where, f"unknown keys {sorted(extra)} for type {kind}; allowed: "
                     f"{', '.join(sorted(_KEYS_BY_TYPE[kind]))}")
        return None
    before = len(problems.items)
    when = _compile_when(spec.get("when"), (*where, "when"), known, problems)
    param: Param | None
    if kind == "fixed":
        param = _compile_fixed(name, hparam, spec, where, when, problems)
    elif kind == "categorical":
        param = _compile_categorical(name, hparam, spec, where, when, problems)
    else:
        param = _compile_range(name, hparam, kind, spec, where, when, problems)
    return param if len(problems.items) == before else None


def _compile_fixed(
    name: str, hparam: HParam, spec: Mapping[str, Any], where: Loc,
    when: tuple[Condition, ...], problems: _Problems,
) -> Param | None:
    if "value" not in spec:
        problems.add(where, "a fixed parameter needs a 'value'")
        return None
    why = hparam.check(spec["value"])
    if why:
        problems.add((*where, "value"), f"{name}: {why}")
        return None
    value = int(spec["value"]) if hparam.kind == "int" else spec["value"]
    return FixedParam(name, value, when=when)


def _compile_categorical(
    name: str, hparam: HParam, spec: Mapping[str, Any], where: Loc,
    when: tuple[Condition, ...], problems: _Problems,
) -> Param | None:
    choices = spec.get("choices")
    if not isinstance(choices, list) or not choices:
        problems.add((*where, "choices"), "must be a non-empty list")
        return None
    for index, choice in enumerate(choices):
        why = hparam.check(choice)
        if why:
            problems.add((*where, "choices", index), f"{name}: {why}")
    if len(set(map(repr, choices))) != len(choices):
        problems.add((*where, "choices"), f"choices repeat a value: {choices}")
    return CategoricalParam(name, tuple(choices), when=when)


def _compile_range(
    name: str, hparam: HParam, kind: str, spec: Mapping[str, Any], where: Loc,
    when: tuple[Condition, ...], problems: _Problems,
) -> Param | None:
    if hparam.kind not in ("int", "float"):
        allowed = "categorical or fixed"
        problems.add((*where, "type"), f"{name} is {hparam.kind}; use type {allowed}")
        return None
    if kind == "float" and hparam.kind == "int":
        problems.add((*where, "type"), f"{name} is an integer hyperparameter; use type int")
        return None
    low, high = spec.get("low"), spec.get("high")
    step, log = spec.get("step"), spec.get("log", False)
    for key, value in (("low", low), ("high", high)):
        if not _is_finite_number(value):
            problems.add((*where, key), f"must be a finite number, got {value!r}")
            return None
        if kind == "int" and isinstance(value, float) and not value.is_integer():
            problems.add((*where, key), f"must be an integer for type int, got {value!r}")
            return None
        why = hparam.check(value)
        if why:
            problems.add((*where, key), f"{name}: {why}")
    if not isinstance(log, bool):
        problems.add((*where, "log"), f"must be true or false, got {log!r}")
        return None
    assert isinstance(low, int | float) and isinstance(high, int | float)
    if low >= high:
        problems.add(where, f"low ({low}) must be less than high ({high}); "
                     "use a plain value to fix a parameter")
    if log and low <= 0:
        problems.add((*where, "low"), f"log scale needs low > 0, got {low}")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, int | float) or step <= 0:
            problems.add((*where, "step"), f"must be a positive number, got {step!r}")
        elif kind == "int" and isinstance(step, float) and not step.is_integer():
            problems.add((*where, "step"), f"must be an integer for type int, got {step!r}")
        elif low < high and step > high - low:
            problems.add((*where, "step"), f"step {step} is larger than the range {low}..{high}")
        elif log and (kind == "float" or step != 1):
            problems.add((*where, "step"), "step cannot be combined with log scale")
    if kind == "int":
        return IntParam(name, int(low), int(high), int(step or 1), log, when=when)
    return FloatParam(name, float(low), float(high), None if step is None else float(step),
                      log, when=when)


def _is_finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _compile_when(
    raw: Any, where: Loc, known: Mapping[str, Param], problems: _Problems
) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping) or not raw:
        problems.add(where, "must be a mapping like {num_layers: {gt: 1}}")
        return ()
    conditions: list[Condition] = []
    for ref, test in raw.items():
        target = known.get(str(ref))
        if target is None:
            problems.add((*where, str(ref)), f"condition on {ref!r}, which is not a parameter "
                         f"defined above this one; defined so far: {', '.join(known) or 'none'}")
            continue
        tests = test.items() if isinstance(test, Mapping) else [("eq", test)]
        for op, value in tests:
            loc = (*where, str(ref), str(op))
            if op not in CONDITION_OPS:
                problems.add(loc, f"unknown operator {op!r}; use one of {', '.join(CONDITION_OPS)}")
                continue
            if op == "in" and not isinstance(value, list):
                problems.add(loc, f"'in' needs a list, got {value!r}")
                continue
            numeric = op in ("gt", "ge", "lt", "le")
            if numeric and (isinstance(value, bool) or not isinstance(value, int | float)):
                problems.add(loc, f"{op!r} needs a number, got {value!r}")
                continue
            if not target.can_satisfy(op, value):
                problems.add(loc, f"condition {ref} {op} {value!r} can never hold for "
                             f"{target.describe()}")
                continue
            conditions.append(Condition(str(ref), cast(ConditionOp, op), value))
    return tuple(conditions)


def _check_bidirectional(
    params: Mapping[str, Param], allowed: bool, where: Loc, problems: _Problems
) -> None:
    param = params.get("bidirectional")
    if allowed or param is None:
        return
    if param.can_satisfy("eq", True):
        problems.add((*where, "bidirectional"),
                     "this task does not allow bidirectional models; fix it to false")


def _check_task_kind(
    params: Mapping[str, Param], task_kind: str | None, where: Loc, problems: _Problems
) -> None:
    if task_kind is None:
        return
    for name in params:
        kinds = CATALOG[name].task_kinds
        if kinds and task_kind not in kinds:
            problems.add((*where, name), f"{name} applies only to {' and '.join(kinds)} tasks; "
                         f"this task is {task_kind}")
