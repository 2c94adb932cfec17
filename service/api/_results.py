"""What a study teaches: parameter importance, and warm starts from known configurations."""

from __future__ import annotations

import functools

import optuna
from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from optuna.trial import TrialState

from service.api._auth import (
    Principal,
    ReadPrincipal,
    SubmitPrincipal,
    can_see,
    visible_study,
)
from service.api._deps import LanesDep, StoreDep, StudyId
from service.api._lanes import run_in_lane
from service.api._views import study_public_from_summary
from service.errors import ConflictError
from service.report import build_report
from service.schemas import EnqueueRequest, EnqueueResult, ImportancePublic
from service.spaces import SearchSpace, compile_space
from service.store import (
    ACTIVE_STATUSES,
    StudyRecord,
    StudyStore,
    primary_value,
)
from service.studies import enqueue_planned, plan_warm_start

__all__ = ["router"]

router = APIRouter(prefix="/v1/studies", tags=["results"])

_MIN_TRIALS_FOR_IMPORTANCE = 4
_BIASED_SAMPLERS = {
    "tpe": "TPE", "cmaes": "CMA-ES", "gp": "Gaussian-process", "nsgaii": "NSGA-II",
}



def _space(record: StudyRecord) -> SearchSpace:
    # The stored spec holds the compiled space inline; it was validated at submit.
    return compile_space(record.spec["search_space"])


@router.get("/{study_id}/importance", response_model=ImportancePublic)
def get_importance(study_id: StudyId, store: StoreDep,
                   principal: ReadPrincipal) -> ImportancePublic:
    """Hyperparameter importance by Optuna's default evaluator (PED-ANOVA in Optuna 5)."""
    return importance_of(store, visible_study(store, principal, study_id))


@router.get("/{study_id}/report", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}}}})
def get_report(study_id: StudyId, store: StoreDep, principal: ReadPrincipal) -> HTMLResponse:
    """One self-contained HTML page: history, learning curves, importance, parallel
    coordinates, slices and the RNN health panel."""
    record = visible_study(store, principal, study_id)
    trials = store.trials(record)
    front = store.pareto_trials(record) if record.spec.get("also_minimize") else []
    summary = store.summaries([record])[record.id]
    study = study_public_from_summary(record, summary, front=front)
    page = build_report(study, trials, importance_of(store, record))
    return HTMLResponse(page)


def importance_of(store: StudyStore, record: StudyRecord) -> ImportancePublic:
    study = store.load_study(record)
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if primary_value(t) is not None]
    evaluator = optuna.importance.PedAnovaImportanceEvaluator
    if len(complete) < _MIN_TRIALS_FOR_IMPORTANCE:
        return ImportancePublic(
            evaluator=evaluator.__name__, n_trials=len(complete), importances={},
            note=f"needs at least {_MIN_TRIALS_FOR_IMPORTANCE} completed trials",
        )
    multi = len(study.directions) > 1
    importances = optuna.importance.get_param_importances(
        study, target=(lambda t: t.values[0]) if multi else None)
    sampler = record.spec.get("sampler", {}).get("name", "tpe")
    note = None
    if sampler in _BIASED_SAMPLERS:
        note = (f"this study used the {_BIASED_SAMPLERS[sampler]} sampler, which concentrates "
                "trials where results were good; importances from it describe that region "
                "and can be unreliable. A random or qmc study gives unbiased importances.")
    if record.spec.get("pruner", {}).get("name") in ("hyperband", "successive_halving"):
        note = (note + " " if note else "") + ("Pruned trials are left out, so importances "
                                               "only reflect configurations that finished.")
    if multi:
        note = (note + " " if note else "") + (
            f"Importance of the first objective ({record.spec['objective']['metric']}).")
    return ImportancePublic(evaluator=evaluator.__name__, n_trials=len(complete),
                            importances={k: float(v) for k, v in importances.items()},
                            note=note)


@router.post("/{study_id}/enqueue", response_model=EnqueueResult, status_code=201)
async def enqueue(study_id: StudyId, request: EnqueueRequest, store: StoreDep,
                  lanes: LanesDep, principal: SubmitPrincipal) -> EnqueueResult:
    """Run known configurations first: given ones, the best trials of an earlier study, or
    well-known good defaults for the study's cells (``best_practice``)."""
    return await run_in_lane(lanes.writes, _enqueue, study_id, request, store, principal)


def _enqueue(study_id: int, request: EnqueueRequest, store: StudyStore,
             principal: Principal) -> EnqueueResult:
    record = visible_study(store, principal, study_id)
    if record.status not in ACTIVE_STATUSES:
        raise ConflictError(f"study {study_id} is {record.status}; nothing more will run")
    counts = store.summaries([record])[record.id].counts
    room = record.n_trials - counts.finished - counts.running - counts.waiting
    planned = plan_warm_start(store, functools.partial(can_see, principal), _space(record),
                              request, room=room)
    enqueue_planned(store, record, planned)
    return EnqueueResult(enqueued=planned)
