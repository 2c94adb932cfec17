"""A study's best model: download it (torch bundle or TorchScript) and predict with it.

The model is kept by the worker that runs the final evaluation; before that there is none
(409 while the evaluation is pending or running, 404 when there will be none).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from threading import BoundedSemaphore, Lock
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from service.api._auth import Principal, ReadPrincipal, visible_study
from service.api._deps import SettingsDep, StoreDep, StudyId
from service.api._limits import read_limited_body
from service.errors import ConflictError, LimitExceededError, NotFoundError
from service.models import LoadedModel, load_model
from service.models._bundle import read_input
from service.schemas import PredictionResult
from service.store import StudyStore

__all__ = ["router"]

router = APIRouter(prefix="/v1/studies", tags=["models"])

_OCTET: dict[int | str, dict[str, Any]] = {200: {"content": {"application/octet-stream": {}}}}
_INPUT_BODY = {
    "requestBody": {
        "required": True,
        "description": "NPZ with X (and optional lengths) in the study's input layout, or "
                       "CSV rows of the series for a forecasting data set.",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}

# Loaded models by (study, content hash): a predict call need not rebuild the module.
_CACHE: OrderedDict[tuple[int, str], LoadedModel] = OrderedDict()
_CACHE_SIZE = 8
_CACHE_LOCK = Lock()


def _model_bytes(store: StudyStore, principal: Principal, study_id: int) -> bytes:
    record = visible_study(store, principal, study_id)
    # Only a finished evaluation's model: a row from anything else (a deleted study whose id
    # was reused, an evaluation still running) is not this study's best model.
    kept = store.models.get(study_id) if record.eval_status == "done" else None
    if kept is not None:
        return kept.content
    status = record.eval_status
    if status in ("pending", "running"):
        raise ConflictError(
            f"study {study_id} has no model yet: its final evaluation is {status}; the best "
            "model is kept when the evaluation is done"
        )
    if status is None and record.status in ("queued", "running"):
        raise ConflictError(
            f"study {study_id} has no model yet: it is {record.status}; its best model is "
            "kept once it completes and is evaluated"
        )
    why = {
        "failed": "its final evaluation failed",
        "skipped": "no trial completed",
        "done": "the evaluation run with the study's seed diverged",
    }.get(status or "", f"it is {record.status} and was not evaluated")
    raise NotFoundError(f"study {study_id} has no model: {why}")


def _loaded(study_id: int, content: bytes) -> LoadedModel:
    key = (study_id, hashlib.sha256(content).hexdigest())
    with _CACHE_LOCK:
        model = _CACHE.get(key)
        if model is not None:
            _CACHE.move_to_end(key)
            return model
    model = load_model(content)
    with _CACHE_LOCK:
        _CACHE[key] = model
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return model


@router.get("/{study_id}/model", response_class=Response, responses=_OCTET)
def get_model(
    study_id: StudyId, store: StoreDep, principal: ReadPrincipal,
    format: Annotated[Literal["torch", "torchscript"], Query()] = "torch",
) -> Response:
    """The best model as one file: ``torch`` (weights, configuration and preprocessing;
    ``service.load_model(path)`` loads it) or ``torchscript`` (preprocessing built in)."""
    content = _model_bytes(store, principal, study_id)
    if format == "torchscript":
        content = _loaded(study_id, content).torchscript_bytes()
        filename = f"study-{study_id}-model.ts"
    else:
        filename = f"study-{study_id}-model.pt"
    return Response(content, media_type="application/octet-stream",
                    headers={"content-disposition": f'attachment; filename="{filename}"'})


@router.post("/{study_id}/predict", response_model=PredictionResult, openapi_extra=_INPUT_BODY)
async def predict(
    study_id: StudyId, request: Request, store: StoreDep, settings: SettingsDep,
    principal: ReadPrincipal,
    format: Annotated[Literal["npz", "csv"] | None, Query(
        description="default: csv for a forecasting data set's model, else npz")] = None,
) -> PredictionResult:
    """Run the best model on new data in the study's input format."""
    body = await read_limited_body(request, settings.max_upload_bytes)
    if format is None and request.headers.get("content-type", "").startswith("text/csv"):
        format = "csv"

    def run() -> PredictionResult:
        model = _loaded(study_id, _model_bytes(store, principal, study_id))
        result = read_input(model, body, format=format,
                            max_bytes=settings.max_dataset_unpacked_bytes,
                            max_rows=settings.max_predict_rows, max_steps=settings.max_seq_len)
        return PredictionResult(study_id=study_id, **result)

    slots: BoundedSemaphore = request.app.state.prediction_slots  # see create_api
    if not slots.acquire(blocking=False):
        raise LimitExceededError(
            f"{settings.max_concurrent_predictions} predictions are running, the most at "
            "once; retry shortly"
        )
    try:
        return await run_in_threadpool(run)
    finally:
        slots.release()

