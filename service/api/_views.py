"""Stored studies and Optuna trials as the public wire models: the store keeps records and
trials, the API says how they look on the wire."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from fastapi import Response
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel

from service.schemas import (
    BaselinePublic,
    BestTrialPublic,
    BudgetSpec,
    EpochRecord,
    EvaluationPublic,
    ObjectiveSpec,
    ParetoTrialPublic,
    StudyPublic,
    TrialCounts,
    TrialPublic,
)
from service.store import (
    BestTrial,
    StudyRecord,
    TrialSummary,
    best_trial,
    count_trials,
    primary_value,
    retry_of,
)
from service.trial_attrs import (
    ATTR_DEVICE,
    ATTR_EPOCHS,
    ATTR_MESSAGE,
    ATTR_PRUNE_REASON,
    ATTR_RESUMED_FROM,
    ATTR_SOURCE,
    ATTR_WORKER,
)

__all__ = ["json_response", "study_public", "study_public_from_summary", "trial_public"]


def json_response(model: BaseModel, *, status_code: int = 200) -> Response:
    """``model`` as the response's body, serialised once. Returned as a model, FastAPI would
    dump it to a dict, validate that against the route's response model and serialise the
    result: for a page of 100 studies, work on the event loop that held up every request."""
    return Response(model.model_dump_json(), status_code=status_code,
                    media_type="application/json")

_STATE_NAMES = {
    TrialState.RUNNING: "running",
    TrialState.WAITING: "waiting",
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "fail",
}


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None else None


def study_public(record: StudyRecord, trials: Sequence[FrozenTrial]) -> StudyPublic:
    best = best_trial(record, trials)
    summary = TrialSummary(
        counts=count_trials(trials),
        best=None if best is None else BestTrial(
            number=best.number, value=primary_value(best) or 0.0, params=best.params
        ),
    )
    return study_public_from_summary(record, summary)


def _pareto_front(trials: Sequence[FrozenTrial]) -> list[ParetoTrialPublic]:
    """The feasible trials no other trial beats on every objective (Optuna's best_trials)."""
    return [ParetoTrialPublic(number=t.number, values=list(t.values), params=t.params)
            for t in sorted(trials, key=lambda t: t.number)]


def study_public_from_summary(
    record: StudyRecord, summary: TrialSummary, *, front: Sequence[FrozenTrial] = ()
) -> StudyPublic:
    """The study's JSON from aggregated counts (see ``StudyStore.summaries``); ``front`` is
    the Pareto front of a multi-objective study."""
    return StudyPublic(
        objectives=[record.spec["objective"]["metric"], *record.spec.get("also_minimize", [])],
        pareto_front=_pareto_front(front),
        tags=record.spec.get("tags") or [],
        id=record.id,
        name=record.name,
        status=record.status,  # type: ignore[arg-type]
        stop_reason=record.stop_reason,
        task=_task_label(record.spec),
        objective=ObjectiveSpec.model_validate(record.spec["objective"]),
        budget=BudgetSpec.model_validate(record.spec["budget"]),
        search_trials=record.n_trials,
        trials=TrialCounts(**asdict(summary.counts)),
        best=None if summary.best is None else BestTrialPublic(**asdict(summary.best)),
        baseline=None if record.baseline is None else BaselinePublic(**record.baseline),
        baselines=[BaselinePublic(**b) for b in record.baselines or []],
        evaluation=_evaluation_public(record),
        priority=record.priority,
        max_parallel=record.max_parallel,
        created_at=_utc(record.created_at),  # type: ignore[arg-type]
        started_at=_utc(record.started_at),
        completed_at=_utc(record.completed_at),
        spec=record.spec,
    )


def _task_label(spec: dict[str, Any]) -> str:
    """A built-in task's name, or ``dataset-<id>``."""
    task = spec["task"]
    return str(task.get("name") or f"dataset-{task.get('dataset')}")


def _evaluation_public(record: StudyRecord) -> EvaluationPublic | None:
    """The final evaluation as stored, with its status; None when there will be none."""
    if record.eval_status is None:
        return None
    data = dict(record.evaluation or {})
    data["status"] = record.eval_status
    return EvaluationPublic.model_validate(data)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def trial_public(trial: FrozenTrial, *, retried_by: int | None = None) -> TrialPublic:
    attrs = trial.user_attrs
    epochs = [
        EpochRecord(
            epoch=int(e["epoch"]),
            value=_finite(e.get("value")),
            train_loss=_finite(e.get("train_loss")),
            grad_norm_mean=_finite(e.get("grad_norm_mean")),
            grad_norm_max=_finite(e.get("grad_norm_max")),
        )
        for e in attrs.get(ATTR_EPOCHS, [])
    ]
    duration = None
    if trial.datetime_start is not None and trial.datetime_complete is not None:
        duration = (trial.datetime_complete - trial.datetime_start).total_seconds()
    reason = attrs.get(ATTR_PRUNE_REASON) if trial.state == TrialState.PRUNED else None
    return TrialPublic(
        number=trial.number,
        state=_STATE_NAMES[trial.state],  # type: ignore[arg-type]
        value=primary_value(trial) if trial.state == TrialState.COMPLETE else None,
        values=list(trial.values) if trial.values and len(trial.values) > 1 else None,
        params=trial.params,
        intermediate_values={
            step: v for step, v in trial.intermediate_values.items() if math.isfinite(v)
        },
        epochs=epochs,
        prune_reason=reason,
        message=attrs.get(ATTR_MESSAGE),
        duration_s=duration,
        started_at=_utc(trial.datetime_start),
        completed_at=_utc(trial.datetime_complete),
        device=attrs.get(ATTR_DEVICE),
        worker=attrs.get(ATTR_WORKER),
        retry_of=retry_of(trial),
        retried_by=retried_by,
        resumed_from_epoch=attrs.get(ATTR_RESUMED_FROM),
        source=attrs.get(ATTR_SOURCE),
    )

