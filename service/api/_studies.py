"""/v1/studies: submit, list, inspect, cancel and delete studies."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status

from service.api._deps import SettingsDep, StoreDep
from service.errors import NotFoundError
from service.schemas import (
    StudyPublic,
    StudySpec,
    StudySummaryList,
    TrialPublic,
    TrialsPage,
)
from service.store import best_trial, study_public, trial_public, trials_public
from service.tuning import parse_spec_document, resolve_spec

__all__ = ["router"]

router = APIRouter(prefix="/v1/studies", tags=["studies"])

_SPEC_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": StudySpec.model_json_schema()},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=StudyPublic,
             openapi_extra=_SPEC_BODY)
async def submit_study(request: Request, store: StoreDep, settings: SettingsDep) -> StudyPublic:
    """Validate a study spec (JSON or YAML body) completely, then create the study."""
    spec = parse_spec_document(await request.body())
    resolved = resolve_spec(spec, spaces_dir=settings.search_spaces_dir)
    baseline = resolved.baseline
    record = store.create(
        name=spec.name,
        spec=resolved.stored_spec(),
        direction=resolved.direction,
        n_trials=spec.budget.n_trials,
        timeout_s=spec.budget.timeout_s,
        priority=spec.priority,
        max_parallel=spec.max_parallel,
        baseline=None if baseline is None else {
            "name": baseline.name, "metric": f"val_{baseline.metric}",
            "value": baseline.value, "description": baseline.description,
        },
        user_attrs={
            "task": resolved.task.name,
            "search_space": resolved.space_name or "inline",
            "objective": resolved.metric,
            "sampler": spec.sampler.name,
            "pruner": spec.pruner.name,
        },
    )
    return study_public(record, [])


@router.get("", response_model=StudySummaryList)
def list_studies(
    store: StoreDep,
    status_filter: Annotated[
        Literal["queued", "running", "completed", "cancelled", "failed"] | None,
        Query(alias="status"),
    ] = None,
) -> StudySummaryList:
    records = store.list_studies(status=status_filter)
    return StudySummaryList(
        studies=[study_public(r, store.trials(r)) for r in records]
    )


@router.get("/{study_id}", response_model=StudyPublic)
def get_study(study_id: int, store: StoreDep) -> StudyPublic:
    record = store.refresh_status(study_id)
    return study_public(record, store.trials(record))


@router.get("/{study_id}/trials", response_model=TrialsPage)
def list_trials(
    study_id: int,
    store: StoreDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    state: Annotated[
        Literal["running", "waiting", "complete", "pruned", "fail"] | None, Query()
    ] = None,
) -> TrialsPage:
    record = store.get(study_id)
    trials = trials_public(store.trials(record))
    if state is not None:
        trials = [t for t in trials if t.state == state]
    return TrialsPage(
        total=len(trials), offset=offset, limit=limit, trials=trials[offset : offset + limit]
    )


@router.get("/{study_id}/best", response_model=TrialPublic)
def get_best(study_id: int, store: StoreDep) -> TrialPublic:
    record = store.get(study_id)
    best = best_trial(record, store.trials(record))
    if best is None:
        raise NotFoundError(f"study {study_id} has no completed trial yet")
    return trial_public(best)


@router.post("/{study_id}/cancel", response_model=StudyPublic)
def cancel_study(study_id: int, store: StoreDep) -> StudyPublic:
    record = store.cancel(study_id)
    return study_public(record, store.trials(record))


@router.delete("/{study_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_study(study_id: int, store: StoreDep) -> Response:
    store.delete(study_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
