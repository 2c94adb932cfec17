"""Fully validate a parsed study spec against the registries: everything a worker needs,
checked at submit time."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from service.errors import NotFoundError, SpecError
from service.schemas import StudySpec
from service.spaces import (
    CategoricalParam,
    FixedParam,
    IntParam,
    SearchSpace,
    compile_space,
    load_space_file,
)
from service.specs import search_trials, selection_plan
from service.tasks import (
    Baseline,
    DatasetTask,
    StoredDataset,
    Task,
    get_task,
    parse_task_options,
    validation_folds,
)
from service.tuning._pruners import parse_pruner_options
from service.tuning._samplers import parse_sampler_options
from service.tuning._season_option import fit_seasonal_option

__all__ = [
    "DatasetSource",
    "ResolvedStudy",
    "resolve_spec",
]


class DatasetSource(Protocol):
    """Where a study's uploaded data set comes from (the database-backed store)."""

    def stored(self, dataset_id: int) -> StoredDataset: ...


@dataclass(frozen=True)
class ResolvedStudy:
    """A validated study: the spec with its search space inlined, and the objects it names."""

    spec: StudySpec
    space: SearchSpace
    space_name: str | None
    task: Task
    task_options: BaseModel
    metric: str
    metric_key: str
    direction: str
    baseline: Baseline | None
    # The trivial baseline first, then stronger references, all for the objective's metric.
    baselines: tuple[Baseline, ...] = field(default=())

    @property
    def objectives(self) -> list[str]:
        """Every objective: the metric, then those in ``also_minimize``."""
        return [self.metric, *self.spec.also_minimize]

    @property
    def directions(self) -> list[str]:
        return [self.direction] + ["minimize"] * len(self.spec.also_minimize)

    @property
    def search_trials(self) -> int:
        """The trials the search runs: the budget less the selection step's re-runs."""
        return search_trials(self.spec)

    @property
    def multi_objective(self) -> bool:
        return bool(self.spec.also_minimize)

    def stored_spec(self) -> dict[str, Any]:
        """The JSON kept with the study: self-contained, so workers need no space files."""
        data = self.spec.model_dump(mode="json")
        data["search_space"] = {"params": self.space.describe()}
        if self.space.description:
            data["search_space"]["description"] = self.space.description
        data["objective"] = {"metric": self.metric, "direction": self.direction}
        options = self.task_options.model_dump(mode="json")
        if isinstance(self.task, DatasetTask):
            data["task"] = {"dataset": self.task.stored.id, **options}
        else:
            data["task"] = {"name": self.task.name, **options}
        return data


def resolve_spec(
    spec: StudySpec, *, spaces_dir: Path, datasets: DatasetSource | None = None
) -> ResolvedStudy:
    """Check that every name exists and every option is legal; raise ``SpecError`` if not.

    A spec that names a data set needs ``datasets`` to read it from.
    """
    task = _task(spec, datasets)
    task_options = parse_task_options(task, spec.task.options())
    space_name = spec.search_space if isinstance(spec.search_space, str) else None
    raw_space = load_space_file(space_name, spaces_dir) if space_name else spec.search_space
    space = compile_space(raw_space, allows_bidirectional=task.allows_bidirectional,
                          task_kind=task.kind)
    space = fit_seasonal_option(space, task, task_options)
    _check_data_params(space, task, task_options)
    metric, metric_key, direction = _resolve_objective(spec, task)
    parse_sampler_options(spec.sampler.name, spec.sampler.options())
    parse_pruner_options(spec.pruner.name, spec.pruner.options(), max_epochs=spec.budget.max_epochs)
    _check_multi_objective(spec)
    if spec.sampler.name == "grid":
        size = space.grid_size(space.grid())
        if spec.budget.n_trials > size:
            raise SpecError(
                f"the grid has {size} points, fewer than budget.n_trials={spec.budget.n_trials}; "
                "lower n_trials or widen the grid",
                loc=("budget", "n_trials"),
            )
    _check_validation_splits(spec, space, task, task_options)
    trivial = task.baselines(task_options)
    return ResolvedStudy(
        spec=spec, space=space, space_name=space_name, task=task, task_options=task_options,
        metric=metric, metric_key=metric_key, direction=direction,
        baseline=trivial.get(metric_key),
        baselines=_baselines(trivial, task.reference_baselines(task_options), metric_key),
    )


# Samplers that cannot optimise several objectives at once.
_SINGLE_OBJECTIVE_SAMPLERS = ("cmaes",)


def _check_multi_objective(spec: StudySpec) -> None:
    extra = spec.also_minimize
    if len(set(extra)) != len(extra):
        raise SpecError(f"also_minimize repeats an objective: {extra}", loc=("also_minimize",))
    if not extra:
        return
    if spec.pruner.name != "none":
        # Optuna cannot prune on several objectives: intermediate reports are single-valued.
        raise SpecError(
            f"a multi-objective study cannot use the {spec.pruner.name!r} pruner; set pruner: "
            "{name: none} (diverging trials are still stopped)", loc=("pruner", "name"))
    if spec.sampler.name in _SINGLE_OBJECTIVE_SAMPLERS:
        raise SpecError(
            f"the {spec.sampler.name} sampler optimises one objective; use tpe, nsgaii, gp, "
            "random, qmc or grid for several", loc=("sampler", "name"))


def _baselines(
    trivial: dict[str, Baseline], references: list[Baseline], metric: str
) -> tuple[Baseline, ...]:
    """The objective's trivial baseline and references; then, for a reference published in
    another metric (1-NN DTW accuracy beside a loss objective), that metric's trivial baseline
    and the reference, so the final evaluation's test metrics can be read against it."""
    in_metric = {r.name for r in references if r.metric == metric}
    elsewhere = [r for r in references if r.name not in in_metric]
    shown: list[Baseline] = []
    for key in [metric, *sorted({r.metric for r in elsewhere} - {metric})]:
        if key in trivial:
            shown.append(trivial[key])
        shown.extend(r for r in references if r.metric == key
                     and (key == metric or r.name not in in_metric))
    return tuple(shown)


def _task(spec: StudySpec, datasets: DatasetSource | None) -> Task:
    if spec.task.dataset is None:
        return get_task(str(spec.task.name))
    if datasets is None:
        raise SpecError("data sets cannot be used here", loc=("task", "dataset"))
    try:
        return DatasetTask(datasets.stored(spec.task.dataset))
    except NotFoundError as exc:
        raise SpecError(str(exc), loc=("task", "dataset")) from None


def _check_data_params(space: SearchSpace, task: Task, options: BaseModel) -> None:
    """Every value a data hyperparameter (the window) can take must fit the task's data."""
    for name, (low, high) in task.data_param_bounds(options).items():
        values = _int_range(space, name)
        if values is not None and not (low <= values[0] and values[1] <= high):
            raise SpecError(
                f"{name} may take values in [{values[0]}, {values[1]}], but this task allows "
                f"[{low}, {high}]",
                loc=("search_space", "params", name),
            )


def _check_validation_splits(
    spec: StudySpec, space: SearchSpace, task: Task, options: BaseModel
) -> None:
    """Several validation splits must each leave enough to train on, with the largest window
    the space allows (the one that leaves the fewest training windows)."""
    if spec.evaluation.validation.n_splits == 1 or selection_plan(spec)[0] == 0:
        return
    hparams = {name: (_int_range(space, name) or (None, None))[1] for name in task.data_params}
    data = task.load(options, seed=spec.seed, hparams=hparams)
    try:
        validation_folds(data, splits=spec.evaluation.validation.splits, seed=spec.seed)
    except ValueError as exc:
        raise SpecError(str(exc), loc=("evaluation", "validation", "splits")) from None


def _int_range(space: SearchSpace, name: str) -> tuple[int, int] | None:
    for param in space.params:
        if param.name != name:
            continue
        if isinstance(param, IntParam):
            return param.low, param.high
        if isinstance(param, FixedParam):
            return int(param.value), int(param.value)
        if isinstance(param, CategoricalParam):
            choices = [int(c) for c in param.choices]
            return min(choices), max(choices)
    return None


def _resolve_objective(spec: StudySpec, task: Task) -> tuple[str, str, str]:
    raw = spec.objective.metric
    key = raw.removeprefix("val_")
    allowed = [f"val_{m}" for m in task.metrics()]
    if key not in task.metrics():
        raise SpecError(
            f"metric {raw!r} is not reported by task {task.name!r}; choose one of "
            f"{', '.join(allowed)}",
            loc=("objective", "metric"),
        )
    natural = task.metric_direction(key)
    direction = spec.objective.direction or natural
    if direction != natural:
        raise SpecError(
            f"val_{key} should be {natural}d; direction {direction!r} would search for the "
            "worst models",
            loc=("objective", "direction"),
        )
    return f"val_{key}", key, direction
