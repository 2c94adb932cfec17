"""Turn an option mapping into a validated pydantic model, as a ``SpecError`` on failure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from service.errors import SpecError

__all__ = ["StrictOptions", "parse_options"]

ModelT = TypeVar("ModelT", bound=BaseModel)


class StrictOptions(BaseModel):
    """Base of every options model: unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_options(
    model: type[ModelT], raw: Mapping[str, Any], *, loc: Sequence[str | int]
) -> ModelT:
    """Validate ``raw`` against ``model``; every problem is reported with its location."""
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        raise SpecError.from_validation(exc, model, loc=loc, noun="option") from None
