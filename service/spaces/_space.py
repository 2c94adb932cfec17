"""A compiled search space: the only place that calls ``trial.suggest_*``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from service.errors import SpecError
from service.spaces._catalog import defaults
from service.spaces._params import CategoricalParam, FixedParam, IntParam, Param

__all__ = ["SearchSpace"]

# Beyond this many grid points the grid sampler is no longer a sensible choice.
_MAX_GRID_POINTS = 100_000


@dataclass(frozen=True)
class SearchSpace:
    params: tuple[Param, ...]
    description: str = ""

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def suggest(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Draw the active parameters in order; conditions see the values drawn before them."""
        values: dict[str, Any] = {}
        for param in self.params:
            if not param.active(values):
                continue
            if isinstance(param, FixedParam):
                values[param.name] = param.value
            elif isinstance(param, CategoricalParam):
                values[param.name] = trial.suggest_categorical(param.name, param.choices)
            elif isinstance(param, IntParam):
                values[param.name] = trial.suggest_int(
                    param.name, param.low, param.high, step=param.step, log=param.log
                )
            else:
                values[param.name] = trial.suggest_float(
                    param.name, param.low, param.high, step=param.step, log=param.log
                )
        return values

    def fit_params(
        self, values: Mapping[str, Any], *, clamp: bool = False
    ) -> tuple[dict[str, Any], list[str]]:
        """The searched parameters of ``values`` that this space can take, for enqueueing.

        Parameters the space fixes or does not have, and values outside a parameter's domain
        are left out (``clamp`` moves numbers to the nearest legal value instead); each is
        explained in the returned notes. Conditions are followed as ``suggest`` would.
        """
        fitted: dict[str, Any] = {}
        seen: dict[str, Any] = {}
        notes: list[str] = []
        for param in self.params:
            if not param.active(seen):
                continue
            if isinstance(param, FixedParam):
                seen[param.name] = param.value
                continue
            if param.name not in values:
                continue
            value = _fit_value(param, values[param.name], clamp=clamp)
            if value is None:
                notes.append(f"{param.name}={values[param.name]!r} is outside "
                             f"{param.describe()}; left to the sampler")
                continue
            fitted[param.name] = seen[param.name] = value
        unknown = sorted(set(values) - set(self.names))
        if unknown:
            notes.append(f"not in this space, ignored: {', '.join(unknown)}")
        return fitted, notes

    def resolve(self, values: dict[str, Any]) -> dict[str, Any]:
        """The full hyperparameter set: drawn values over the catalog defaults."""
        return defaults() | values

    def grid(self) -> dict[str, list[Any]]:
        """The grid a grid sampler walks: every value of every searched parameter."""
        grid: dict[str, list[Any]] = {}
        for param in self.params:
            if isinstance(param, FixedParam):
                continue
            values = param.grid()
            if values is None:
                raise SpecError(
                    f"the grid sampler needs a step for float parameter {param.name!r}",
                    loc=("search_space", "params", param.name, "step"),
                )
            grid[param.name] = values
        size = self.grid_size(grid)
        if size > _MAX_GRID_POINTS:
            raise SpecError(
                f"the grid has {size} points, more than the {_MAX_GRID_POINTS} allowed; "
                "coarsen the steps or use another sampler",
                loc=("sampler", "name"),
            )
        return grid

    @staticmethod
    def grid_size(grid: dict[str, list[Any]]) -> int:
        size = 1
        for values in grid.values():
            size *= len(values)
        return size

    def describe(self) -> dict[str, Any]:
        """The space as a plain mapping, in the same form it is written in."""
        return {p.name: p.describe() for p in self.params}




def _fit_value(param: Param, value: Any, *, clamp: bool) -> Any:
    """``value`` as a legal value of ``param``, or None when it is not one."""
    if isinstance(param, CategoricalParam):
        return value if value in param.choices else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    low, high = param.low, param.high  # type: ignore[union-attr]
    if not low <= value <= high:
        if not clamp:
            return None
        value = min(max(value, low), high)
    step = param.step  # type: ignore[union-attr]
    if step:
        value = low + round((value - low) / step) * step
        value = min(value, high)
    return round(value) if isinstance(param, IntParam) else float(value)
