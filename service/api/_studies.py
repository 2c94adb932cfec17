"""/v1/studies: submit, list, inspect, cancel and delete studies."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from service.api._auth import Principal, ReadPrincipal, SubmitPrincipal, can_see, visible_study
from service.api._datasets import VisibleDatasets, baseline_json
from service.api._deps import SettingsDep, StoreDep, StudyId
from service.api._limits import check_spec_limits, json_or_yaml_body, read_limited_body
from service.api._warm_start import enqueue_planned, plan_study_warm_start
from service.config import Settings
from service.errors import LimitExceededError, NotFoundError
from service.schemas import (
    StudyPublic,
    StudySpec,
    StudySummaryList,
    TrialPublic,
    TrialsPage,
)
from service.store import (
    StudyStore,
    best_trial,
    study_public,
    study_public_from_summary,
    trial_public,
)
from service.tuning import ResolvedStudy, parse_spec_document, resolve_spec, search_trials

__all__ = ["router"]

router = APIRouter(prefix="/v1/studies", tags=["studies"])

_SPEC_BODY = json_or_yaml_body(StudySpec)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=StudyPublic,
             openapi_extra=_SPEC_BODY)
async def submit_study(
    request: Request, store: StoreDep, settings: SettingsDep, principal: SubmitPrincipal
) -> StudyPublic:
    """Validate a study spec (JSON or YAML body) completely, then create the study."""
    body = await read_limited_body(request, settings.max_body_bytes)
    # Validation and database work block; keep them off the event loop.
    return await run_in_threadpool(_submit, body, store, settings, principal)


def _submit(
    body: bytes, store: StudyStore, settings: Settings, principal: Principal
) -> StudyPublic:
    spec = parse_spec_document(body)
    return create_study(spec, resolve_study(spec, store, settings, principal), store, settings,
                        principal)


def resolve_study(
    spec: StudySpec, store: StudyStore, settings: Settings, principal: Principal
) -> ResolvedStudy:
    """Validate ``spec`` completely (space, names, data set, limits); nothing is stored."""
    resolved = resolve_spec(spec, spaces_dir=settings.search_spaces_dir,
                            datasets=VisibleDatasets(store, principal))
    check_spec_limits(resolved, settings)
    return resolved


def create_study(
    spec: StudySpec, resolved: ResolvedStudy, store: StudyStore, settings: Settings,
    principal: Principal,
) -> StudyPublic:
    """Create a resolved study within the key's quota, with its warm start queued."""
    active = store.count_active(owner_key_id=principal.key_id)
    if active >= settings.max_active_studies_per_key:
        raise LimitExceededError(
            f"{active} studies of this key are queued or running, the most allowed "
            f"({settings.max_active_studies_per_key}); wait for one to end or cancel one"
        )
    # Planned (and refused if wrong) before the study exists, so a bad warm start stores nothing.
    warm_start = plan_study_warm_start(store, principal, resolved.space, spec,
                                       room=search_trials(spec))
    baseline = resolved.baseline
    record = store.create(
        name=spec.name,
        spec=resolved.stored_spec(),
        direction=resolved.directions,
        # The selection step's re-runs are part of the budget: the search runs the rest.
        n_trials=search_trials(spec),
        timeout_s=spec.budget.timeout_s,
        priority=spec.priority,
        max_parallel=spec.max_parallel,
        owner_key_id=principal.key_id,
        baseline=None if baseline is None else baseline_json(baseline),
        baselines=[baseline_json(b) for b in resolved.baselines],
        user_attrs={
            "task": resolved.task.name,
            "search_space": resolved.space_name or "inline",
            "objective": resolved.metric,
            "sampler": spec.sampler.name,
            "pruner": spec.pruner.name,
        },
    )
    # Check again now that it exists: two submissions racing past the first check must not
    # both stay (a check-then-insert is not atomic across threads or API replicas).
    if store.count_active(owner_key_id=principal.key_id) > settings.max_active_studies_per_key:
        store.delete(record.id)
        raise LimitExceededError(
            f"this key already has {settings.max_active_studies_per_key} queued or running "
            "studies, the most allowed; wait for one to end or cancel one"
        )
    enqueue_planned(store, record, warm_start)
    return study_public(record, store.trials(record) if warm_start else [])



@router.get("", response_model=StudySummaryList)
def list_studies(
    store: StoreDep,
    principal: ReadPrincipal,
    status_filter: Annotated[
        Literal["queued", "running", "completed", "cancelled", "failed"] | None,
        Query(alias="status"),
    ] = None,
    tag: Annotated[str | None, Query(max_length=64, description="Only studies with this tag.")]
    = None,
) -> StudySummaryList:
    records = [r for r in store.list_studies(status=status_filter) if can_see(principal, r)
               and (tag is None or tag in (r.spec.get("tags") or []))]
    summaries = store.summaries(records)
    return StudySummaryList(
        studies=[study_public_from_summary(r, summaries[r.id]) for r in records]
    )


@router.get("/{study_id}", response_model=StudyPublic)
def get_study(study_id: StudyId, store: StoreDep, principal: ReadPrincipal) -> StudyPublic:
    record = visible_study(store, principal, study_id)
    # One aggregation serves both the status refresh and the response.
    summary = store.summaries([record])[record.id]
    record = store.refresh_status(study_id, counts=summary.counts)
    front = store.pareto_trials(record) if record.spec.get("also_minimize") else []
    return study_public_from_summary(record, summary, front=front)


@router.get("/{study_id}/trials", response_model=TrialsPage)
def list_trials(
    study_id: StudyId,
    store: StoreDep,
    principal: ReadPrincipal,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    state: Annotated[
        Literal["running", "waiting", "complete", "pruned", "fail"] | None, Query()
    ] = None,
) -> TrialsPage:
    record = visible_study(store, principal, study_id)
    total, trials, retried_by = store.trials_page(record, offset=offset, limit=limit,
                                                  state=state)
    return TrialsPage(
        total=total, offset=offset, limit=limit,
        trials=[trial_public(t, retried_by=retried_by.get(t.number)) for t in trials],
    )


@router.get("/{study_id}/best", response_model=TrialPublic)
def get_best(study_id: StudyId, store: StoreDep, principal: ReadPrincipal) -> TrialPublic:
    record = visible_study(store, principal, study_id)
    best = best_trial(record, store.trials(record))
    if best is None:
        raise NotFoundError(f"study {study_id} has no completed trial yet")
    return trial_public(best)


@router.post("/{study_id}/cancel", response_model=StudyPublic)
def cancel_study(study_id: StudyId, store: StoreDep, principal: SubmitPrincipal) -> StudyPublic:
    visible_study(store, principal, study_id)
    record = store.cancel(study_id)
    return study_public(record, store.trials(record))


@router.delete("/{study_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_study(study_id: StudyId, store: StoreDep, principal: SubmitPrincipal) -> Response:
    visible_study(store, principal, study_id)
    store.delete(study_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
