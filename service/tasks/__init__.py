"""Built-in tasks: deterministic data splits, metrics and trivial baselines.

A task is looked up by name (:func:`get_task`), its options are validated from the study spec
(:func:`parse_task_options`), and :meth:`Task.load` builds train, validation and test
:class:`SequenceSplit` objects from a seed.
"""

from ._adding import AddingOptions, AddingTask, generate_adding
from ._base import (
    Baseline,
    MetricDirection,
    SequenceSplit,
    Task,
    TaskData,
    TaskKind,
    metric_direction,
    metric_names,
)
from ._metrics import compute_metrics
from ._registry import TASKS, get_task, parse_task_options, task_names

__all__ = [
    "TASKS",
    "AddingOptions",
    "AddingTask",
    "Baseline",
    "MetricDirection",
    "SequenceSplit",
    "Task",
    "TaskData",
    "TaskKind",
    "compute_metrics",
    "generate_adding",
    "get_task",
    "metric_direction",
    "metric_names",
    "parse_task_options",
    "task_names",
]
