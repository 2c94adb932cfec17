"""Parse and fully validate a study spec: everything a worker needs, checked at submit time."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from service.errors import MalformedDocumentError, SpecError
from service.schemas import StudySpec
from service.spaces import SearchSpace, compile_space, load_space_file
from service.tasks import Baseline, Task, get_task, parse_task_options
from service.tuning._pruners import parse_pruner_options
from service.tuning._samplers import parse_sampler_options

__all__ = ["ResolvedStudy", "parse_spec_document", "parse_spec_mapping", "resolve_spec"]


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

    def stored_spec(self) -> dict[str, Any]:
        """The JSON kept with the study: self-contained, so workers need no space files."""
        data = self.spec.model_dump(mode="json")
        data["search_space"] = {"params": self.space.describe()}
        if self.space.description:
            data["search_space"]["description"] = self.space.description
        data["objective"] = {"metric": self.metric, "direction": self.direction}
        data["task"] = {"name": self.task.name, **self.task_options.model_dump(mode="json")}
        return data


def parse_spec_document(body: bytes | str) -> StudySpec:
    """Parse a YAML or JSON document (YAML is a superset of JSON) into a ``StudySpec``."""
    try:
        text = body.decode("utf-8", errors="strict") if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise MalformedDocumentError(f"the study spec is not UTF-8 text: {exc}") from None
    if not text.strip():
        raise MalformedDocumentError("the study spec is empty")
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MalformedDocumentError(f"the study spec is not valid YAML or JSON: {exc}") from None
    if not isinstance(loaded, Mapping):
        raise MalformedDocumentError(
            f"the study spec must be a mapping, got {type(loaded).__name__}"
        )
    return parse_spec_mapping(loaded)


def parse_spec_mapping(data: Mapping[str, Any]) -> StudySpec:
    try:
        return StudySpec.model_validate(dict(data))
    except ValidationError as exc:
        details = []
        for error in exc.errors():
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = f"unknown field; allowed fields are: {_allowed_fields(error['loc'])}"
            elif error["type"] != "missing":
                message = f"{message} (got {json.dumps(error.get('input'), default=str)})"
            details.append((tuple(error["loc"]), message))
        raise SpecError(details[0][1], loc=details[0][0], details=details) from None


def _allowed_fields(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] = StudySpec
    for part in loc[:-1]:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return ", ".join(model.model_fields)


def resolve_spec(spec: StudySpec, *, spaces_dir: Path) -> ResolvedStudy:
    """Check that every name exists and every option is legal; raise ``SpecError`` if not."""
    task = get_task(spec.task.name)
    task_options = parse_task_options(task, spec.task.options())
    space_name = spec.search_space if isinstance(spec.search_space, str) else None
    raw_space = load_space_file(space_name, spaces_dir) if space_name else spec.search_space
    space = compile_space(raw_space, allows_bidirectional=task.allows_bidirectional)
    metric, metric_key, direction = _resolve_objective(spec, task)
    parse_sampler_options(spec.sampler.name, spec.sampler.options())
    parse_pruner_options(spec.pruner.name, spec.pruner.options(), max_epochs=spec.budget.max_epochs)
    if spec.sampler.name == "grid":
        size = space.grid_size(space.grid())
        if spec.budget.n_trials > size:
            raise SpecError(
                f"the grid has {size} points, fewer than budget.n_trials={spec.budget.n_trials}; "
                "lower n_trials or widen the grid",
                loc=("budget", "n_trials"),
            )
    baseline = task.baselines(task_options).get(metric_key)
    return ResolvedStudy(
        spec=spec, space=space, space_name=space_name, task=task, task_options=task_options,
        metric=metric, metric_key=metric_key, direction=direction, baseline=baseline,
    )


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
