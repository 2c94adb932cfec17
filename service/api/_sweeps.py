"""/v1/sweeps: several studies from one template, one per data set, seed or other value.

Every study is validated before the first one is created, and a failure while creating them
removes those already made, so a sweep is created whole or not at all.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Mapping
from typing import Any

import yaml
from fastapi import APIRouter, Request, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from service.api._auth import Principal, SubmitPrincipal
from service.api._deps import SettingsDep, StoreDep
from service.api._limits import json_or_yaml_body, read_limited_body
from service.api._studies import submitted_public, submitter
from service.config import Settings
from service.errors import LimitExceededError, MalformedDocumentError, SpecError
from service.schemas import StudyPublic, StudySpec, SweepPublic, SweepSpec
from service.spaces import load_untrusted_document, load_untrusted_yaml
from service.specs import MAX_SWEEP_STUDIES, parse_spec_mapping
from service.store import StudyStore
from service.studies import resolve_study, submit_study
from service.tuning import ResolvedStudy

__all__ = ["expand_sweep", "router"]

router = APIRouter(prefix="/v1/sweeps", tags=["studies"])

_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")

_SWEEP_BODY = json_or_yaml_body(SweepSpec)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SweepPublic,
             openapi_extra=_SWEEP_BODY)
async def submit_sweep(
    request: Request, store: StoreDep, settings: SettingsDep, principal: SubmitPrincipal
) -> SweepPublic:
    """Create one study per combination of ``over``'s values, each named and tagged."""
    body = await read_limited_body(request, settings.max_body_bytes)
    return await run_in_threadpool(_submit, body, store, settings, principal)


def _submit(
    body: bytes, store: StudyStore, settings: Settings, principal: Principal
) -> SweepPublic:
    sweep = _parse(body)
    caller = submitter(store, principal)
    prepared: list[tuple[StudySpec, ResolvedStudy]] = []
    for name, spec_data in expand_sweep(sweep):
        try:
            spec = parse_spec_mapping(spec_data)
            prepared.append((spec, resolve_study(spec, store, settings, caller)))
        except SpecError as exc:
            raise _in_study(exc, name) from None
    active = store.count_active(owner_key_id=principal.key_id)
    if active + len(prepared) > settings.max_active_studies_per_key:
        raise LimitExceededError(
            f"the sweep makes {len(prepared)} studies and this key already has {active} queued "
            f"or running; at most {settings.max_active_studies_per_key} are allowed at once"
        )
    created: list[StudyPublic] = []
    try:
        for spec, resolved in prepared:
            created.append(submitted_public(
                store, submit_study(spec, store, settings, caller, resolved=resolved)))
    except BaseException:
        for study in created:
            store.delete(study.id)
        raise
    return SweepPublic(name=sweep.name, tag=sweep.name, studies=created)


def _parse(body: bytes) -> SweepSpec:
    try:
        loaded = load_untrusted_document(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise MalformedDocumentError(f"the sweep is not UTF-8 text: {exc}") from None
    except yaml.YAMLError as exc:
        raise MalformedDocumentError(f"the sweep is not valid YAML or JSON: {exc}") from None
    if not isinstance(loaded, Mapping):
        raise MalformedDocumentError(
            f"the sweep must be a mapping with name, template and over; got "
            f"{type(loaded).__name__}"
        )
    try:
        return SweepSpec.model_validate(dict(loaded))
    except ValidationError as exc:
        raise SpecError.from_validation(exc, SweepSpec) from None


def expand_sweep(sweep: SweepSpec) -> list[tuple[str, dict[str, Any]]]:
    """Each study of the sweep as (name, spec mapping), in the order of ``over``'s product.

    Raises:
        SpecError: the template names itself, a path is not a field path or crosses a value
            that is not a mapping, a list is empty, or the sweep makes too many studies.
    """
    template = _template(sweep.template)
    if "name" in template:
        raise SpecError("a sweep names its studies itself; drop the template's name",
                        loc=("template", "name"))
    for path, values in sweep.over.items():
        if not _PATH.match(path):
            raise SpecError(f"{path!r} is not a dotted field path such as seed or task.dataset",
                            loc=("over", path))
        if not values:
            raise SpecError("give at least one value", loc=("over", path))
    total = 1
    for values in sweep.over.values():
        total *= len(values)
    if total > MAX_SWEEP_STUDIES:
        raise SpecError(f"the sweep makes {total} studies; at most {MAX_SWEEP_STUDIES} are "
                        "allowed", loc=("over",))
    paths = list(sweep.over)
    # Positions, not values, pick the labels: values may repeat or be mappings.
    positions = list(itertools.product(*(range(len(sweep.over[p])) for p in paths)))
    labels = {p: [_label(v, i) for i, v in enumerate(sweep.over[p])] for p in paths}
    names = [_name(sweep.name, paths, [labels[p][i] for p, i in zip(paths, pos, strict=True)])
             for pos in positions]
    if len(set(names)) != len(names):  # values that read alike: number them instead
        names = [_name(sweep.name, paths, [str(i) for i in pos]) for pos in positions]
    studies = []
    for name, pos in zip(names, positions, strict=True):
        spec = copy.deepcopy(template)
        own = spec.get("tags", [])
        if not isinstance(own, list):
            raise SpecError(f"tags must be a list, got {own!r}", loc=("template", "tags"))
        tags = [*own, *sweep.tags, sweep.name]
        for path, i in zip(paths, pos, strict=True):
            value = sweep.over[path][i]
            _set(spec, path, copy.deepcopy(value))
            if isinstance(value, str | int | float | bool):
                tags.append(f"{path.rsplit('.', 1)[-1]}={_label(value, 0)}"[:64])
        spec["name"] = name
        spec["tags"] = list(dict.fromkeys(tags))  # in order, once each
        studies.append((name, spec))
    return studies


def _template(template: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(template, dict):
        return template
    try:
        loaded = load_untrusted_yaml(template)
    except yaml.YAMLError as exc:
        raise SpecError(f"the template is not valid YAML or JSON: {exc}",
                        loc=("template",)) from None
    if not isinstance(loaded, dict):
        raise SpecError(f"the template must be a mapping, got {type(loaded).__name__}",
                        loc=("template",))
    return loaded


def _label(value: Any, index: int) -> str:
    """A value as it may appear in a name: scalars as text, anything else by its position."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        text = _UNSAFE.sub("_", str(value)).strip("_.")
        return text[:30] or str(index)
    return str(index)


def _name(prefix: str, paths: list[str], labels: list[str]) -> str:
    parts = [f"{path.rsplit('.', 1)[-1]}-{label}" for path, label in zip(paths, labels,
                                                                          strict=True)]
    return "-".join([prefix, *parts])[:100]


def _set(spec: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = spec
    for depth, key in enumerate(parents):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            where = ".".join(parents[: depth + 1])
            raise SpecError(f"the template's {where} is not a mapping, so {path} cannot be set",
                            loc=("over", path))
        node = child
    node[leaf] = value


def _in_study(exc: SpecError, name: str) -> SpecError:
    """The same refusal, located in the sweep's study ``name``."""
    return SpecError(exc.message, loc=("studies", name, *exc.loc),
                     details=[(("studies", name, *loc), msg) for loc, msg in exc.details])
