"""Limits on what one request may ask for; each is a clear 4xx naming the limit."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import BaseModel

from service.config import Settings
from service.errors import PayloadTooLargeError, SpecError
from service.tuning import ResolvedStudy
from service.tuning.model_size import check_model_size

__all__ = ["check_spec_limits", "json_or_yaml_body", "read_limited_body"]


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def check_spec_limits(resolved: ResolvedStudy, settings: Settings) -> None:
    """Budget, sequence length and model size against the configured limits."""
    budget = resolved.spec.budget
    if budget.n_trials > settings.max_trials_per_study:
        raise SpecError(
            f"{budget.n_trials} trials exceed the limit of {settings.max_trials_per_study} "
            "per study", loc=("budget", "n_trials"),
        )
    if budget.max_epochs > settings.max_epochs_per_trial:
        raise SpecError(
            f"{budget.max_epochs} epochs exceed the limit of {settings.max_epochs_per_trial} "
            "per trial", loc=("budget", "max_epochs"),
        )
    check_model_size(
        resolved,
        max_seq_len=settings.max_seq_len,
        max_params=settings.max_model_params,
        max_activation_bytes=settings.max_activation_bytes,
    )


def json_or_yaml_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a request body sent as JSON (``model``'s schema) or as a YAML document."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": model.model_json_schema()},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    }
