"""A compiled search space: the only place that calls ``trial.suggest_*``."""

from __future__ import annotations

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


