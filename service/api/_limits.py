"""Limits on what one request may ask for; each is a clear 4xx naming the limit."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import BaseModel

from service.errors import PayloadTooLargeError

__all__ = ["json_or_yaml_body", "read_limited_body"]


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
