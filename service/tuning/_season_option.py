"""``seasonal_inputs`` against a task's data: kept, left out, or refused at submit time.

The shipped forecasting space offers seasonal inputs as a choice, and the same space serves
series without a season (sunspots, a CSV without a time column). There the choice is left out
of the study's space, which says so in its description; a space that insists on seasonal
inputs (fixed true, or a condition that depends on them) is refused, naming why the data has
no season.
"""

from __future__ import annotations

from dataclasses import replace

from pydantic import BaseModel

from service.errors import SpecError
from service.spaces import CategoricalParam, FixedParam, SearchSpace
from service.tasks import Task

__all__ = ["NAME", "fit_seasonal_option"]

NAME = "seasonal_inputs"


def fit_seasonal_option(space: SearchSpace, task: Task, options: BaseModel) -> SearchSpace:
    """``space`` as the task's data allows it; ``SpecError`` when it insists on a season the
    data does not have."""
    param = next((p for p in space.params if p.name == NAME), None)
    if param is None:
        return space
    problem = task.season_problem(options)
    if problem is None:
        return space
    if isinstance(param, FixedParam):
        values = [param.value]
    elif isinstance(param, CategoricalParam):
        values = list(param.choices)
    else:  # the compiler allows only these two for a boolean
        values = [True]
    if True not in values:
        return space
    loc = ("search_space", "params", NAME)
    if False not in values:
        raise SpecError(f"{NAME} needs a season: {problem}", loc=loc)
    dependants = [p.name for p in space.params if any(c.param == NAME for c in p.when)]
    if dependants:
        raise SpecError(f"{NAME} needs a season, and {', '.join(dependants)} depend(s) on it: "
                        f"{problem}", loc=loc)
    note = f"{NAME} left out: {problem}."
    description = f"{space.description.rstrip()} {note}".strip()
    return replace(space, params=tuple(p for p in space.params if p.name != NAME),
                   description=description)
