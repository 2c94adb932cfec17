"""/v1/studies: submit, list, inspect, cancel and delete studies."""

from __future__ import annotations

import functools
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status

from service import studies
from service.api._auth import (
    Principal,
    ReadPrincipal,
    SubmitPrincipal,
    can_see,
    own_studies_only,
    visible_study,
)
from service.api._datasets import VisibleDatasets
from service.api._deps import (
    LanesDep,
    SettingsDep,
    StoreDep,
    StudyId,
    StudyViewsDep,
    TrialViewsDep,
)
from service.api._lanes import run_in_lane
from service.api._limits import json_or_yaml_body, read_limited_body
from service.api._study_views import StudyViews
from service.api._trial_views import TrialViews
from service.api._views import (
    json_response,
    study_public,
    study_public_from_summary,
    trial_public,
)
from service.config import Settings
from service.errors import NotFoundError
from service.schemas import (
    STUDY_PAGE,
    StudyPublic,
    StudySpec,
    StudySummaryList,
    TrialPublic,
    TrialsPage,
)
from service.specs import parse_spec_document
from service.store import StudyStore
from service.studies import Submitted, Submitter

__all__ = ["router", "submitted_public", "submitter"]

router = APIRouter(prefix="/v1/studies", tags=["studies"])

_SPEC_BODY = json_or_yaml_body(StudySpec)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=StudyPublic,
             openapi_extra=_SPEC_BODY)
async def submit_study(
    request: Request, store: StoreDep, settings: SettingsDep, lanes: LanesDep,
    principal: SubmitPrincipal,
) -> Response:
    """Validate a study spec (JSON or YAML body) completely, then create the study."""
    body = await read_limited_body(request, settings.max_body_bytes)
    # Validation and database work block; keep them off the event loop.
    return await run_in_lane(lanes.writes, _submit, body, store, settings, principal)


def _submit(
    body: bytes, store: StudyStore, settings: Settings, principal: Principal
) -> Response:
    spec = parse_spec_document(body)
    # The route bears the function's name (and so does its OpenAPI operation id).
    created = submitted_public(store, studies.submit_study(spec, store, settings,
                                                           submitter(store, principal)))
    return json_response(created, status_code=status.HTTP_201_CREATED)


def submitted_public(store: StudyStore, submitted: Submitted) -> StudyPublic:
    """A new study's JSON; its trials are read only when a warm start queued some."""
    record = submitted.study
    return study_public(record, store.trials(record) if submitted.warm_start else [])


def submitter(store: StudyStore, principal: Principal) -> Submitter:
    """The caller as a submitter: charged to its key, reading what its key may read."""
    return Submitter(key_id=principal.key_id, can_see=functools.partial(can_see, principal),
                     datasets=VisibleDatasets(store, principal))


@router.get("", response_model=StudySummaryList)
async def list_studies(
    store: StoreDep,
    views: StudyViewsDep,
    lanes: LanesDep,
    principal: ReadPrincipal,
    status_filter: Annotated[
        Literal["queued", "running", "completed", "cancelled", "failed"] | None,
        Query(alias="status"),
    ] = None,
    tag: Annotated[str | None, Query(max_length=64, description="Only studies with this tag.")]
    = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = STUDY_PAGE,
) -> Response:
    return await run_in_lane(lanes.reads, _list_studies, store, views, principal,
                             status_filter, tag, offset, limit)


def _list_studies(store: StudyStore, views: StudyViews, principal: Principal,
                  status_filter: str | None, tag: str | None, offset: int,
                  limit: int) -> Response:
    owner = own_studies_only(principal)
    if tag is None:  # the page is taken in SQL: the same cost however many studies there are
        total = store.count_studies(status=status_filter, owner_key_id=owner)
        rows = store.study_rows(status=status_filter, owner_key_id=owner, offset=offset,
                                limit=limit)
    else:  # tags live in the spec document: filtered here, over the status's studies
        tagged = [r for r in store.study_rows(status=status_filter, owner_key_id=owner)
                  if tag in (r.record().spec.get("tags") or [])]
        total, rows = len(tagged), tagged[offset:offset + limit]
    summaries = store.summaries(rows)
    # Serialised here, from the studies' kept JSON (see ``StudyViews``).
    return Response(views.page_json(rows, summaries, total=total, offset=offset, limit=limit),
                    media_type="application/json")


@router.get("/{study_id}", response_model=StudyPublic)
async def get_study(study_id: StudyId, store: StoreDep, lanes: LanesDep,
                    principal: ReadPrincipal) -> Response:
    return await run_in_lane(lanes.reads, _get_study, study_id, store, principal)


def _get_study(study_id: int, store: StudyStore, principal: Principal) -> Response:
    record = visible_study(store, principal, study_id)
    # One aggregation and one read of the row serve both the status refresh and the response.
    summary = store.summaries([record])[record.id]
    record = store.refresh_status(study_id, counts=summary.counts, record=record)
    front = store.pareto_trials(record) if record.spec.get("also_minimize") else []
    # Serialised here, as the trial pages are: the view is built from the model already.
    return json_response(study_public_from_summary(record, summary, front=front))


@router.get("/{study_id}/trials", response_model=TrialsPage)
async def list_trials(
    study_id: StudyId,
    store: StoreDep,
    views: TrialViewsDep,
    lanes: LanesDep,
    principal: ReadPrincipal,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    state: Annotated[
        Literal["running", "waiting", "complete", "pruned", "fail"] | None, Query()
    ] = None,
) -> Response:
    return await run_in_lane(lanes.reads, _list_trials, study_id, store, views, principal,
                             offset=offset, limit=limit, state=state)


def _list_trials(study_id: int, store: StudyStore, views: TrialViews, principal: Principal, *,
                 offset: int, limit: int, state: str | None) -> Response:
    record = visible_study(store, principal, study_id)
    # Serialised here, from the finished trials' kept JSON: returned as a model, FastAPI
    # would validate the 100 trials' views once more against the response model.
    return Response(views.page_json(store, record, offset=offset, limit=limit, state=state),
                    media_type="application/json")


@router.get("/{study_id}/best", response_model=TrialPublic)
async def get_best(study_id: StudyId, store: StoreDep, lanes: LanesDep,
                   principal: ReadPrincipal) -> TrialPublic:
    return await run_in_lane(lanes.reads, _get_best, study_id, store, principal)


def _get_best(study_id: int, store: StudyStore, principal: Principal) -> TrialPublic:
    record = visible_study(store, principal, study_id)
    best = store.best_trial_of(record)
    if best is None:
        raise NotFoundError(f"study {study_id} has no completed trial yet")
    return trial_public(best)


@router.post("/{study_id}/cancel", response_model=StudyPublic)
async def cancel_study(study_id: StudyId, store: StoreDep, lanes: LanesDep,
                       principal: SubmitPrincipal) -> Response:
    return await run_in_lane(lanes.writes, _cancel_study, study_id, store, principal)


def _cancel_study(study_id: int, store: StudyStore, principal: Principal) -> Response:
    visible_study(store, principal, study_id)
    record = store.cancel(study_id)
    return json_response(study_public_from_summary(record, store.summaries([record])[record.id]))


@router.delete("/{study_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_study(study_id: StudyId, store: StoreDep, lanes: LanesDep,
                       principal: SubmitPrincipal) -> Response:
    return await run_in_lane(lanes.writes, _delete_study, study_id, store, principal)


def _delete_study(study_id: int, store: StudyStore, principal: Principal) -> Response:
    visible_study(store, principal, study_id)
    store.delete(study_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
