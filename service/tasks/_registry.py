"""Name -> task registry and option parsing for study specs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import SpecError, UnknownNameError
from ._adding import AddingTask
from ._base import Task
from ._copy_memory import CopyMemoryTask
from ._japanese_vowels import JapaneseVowelsTask
from ._sunspots import SunspotsTask

TASKS: dict[str, type[Task]] = {
    task.name: task
    for task in (AddingTask, CopyMemoryTask, SunspotsTask, JapaneseVowelsTask)
}


def task_names() -> list[str]:
    """Return the names of the built-in tasks, sorted."""
    return sorted(TASKS)


def get_task(name: str) -> Task:
    """Return a new instance of the task called ``name``.

    Raises:
        UnknownNameError: ``name`` is not a built-in task; the message lists the valid names.
    """
    try:
        cls = TASKS[name]
    except (KeyError, TypeError):
        raise UnknownNameError("task", name, TASKS, loc=("task", "name")) from None
    return cls()


def parse_task_options(task: Task, raw: Mapping[str, Any]) -> BaseModel:
    """Validate ``raw`` against ``task.Options`` and return the options model.

    ``raw`` is the spec's ``task`` mapping; a ``name`` key naming this task is ignored, so the
    mapping can be passed as it is.

    Raises:
        SpecError: an option is unknown, of the wrong type or out of bounds, or does not fit
            the task's data (:meth:`Task.validate_options`). ``loc`` is
            ``("task", <field>)`` and the message names the value and what is allowed.
    """
    values = dict(raw)
    name = values.pop("name", task.name)
    if name != task.name:
        raise SpecError(f"options for task {task.name!r} carry name {name!r}", loc=("task", "name"))
    try:
        options = task.Options.model_validate(values)
    except ValidationError as exc:
        raise SpecError.from_validation(exc, task.Options, loc=("task",), noun="option") from None
    task.validate_options(options)
    return options

