"""A study spec from a YAML or JSON document (or a mapping) to a ``StudySpec``: the document's
bounds first, then the models; every problem a ``SpecError`` or ``MalformedDocumentError``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import ValidationError

from service.errors import MalformedDocumentError, SpecError
from service.spaces import load_untrusted_document
from service.specs._bounds import check_document
from service.specs._models import StudySpec

__all__ = ["parse_spec_document", "parse_spec_mapping"]


def parse_spec_document(body: bytes | str) -> StudySpec:
    """Parse a YAML or JSON document (YAML is a superset of JSON) into a ``StudySpec``."""
    try:
        text = body.decode("utf-8", errors="strict") if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise MalformedDocumentError(f"the study spec is not UTF-8 text: {exc}") from None
    if not text.strip():
        raise MalformedDocumentError("the study spec is empty")
    try:
        loaded = load_untrusted_document(text)
    except yaml.YAMLError as exc:
        raise MalformedDocumentError(f"the study spec is not valid YAML or JSON: {exc}") from None
    if not isinstance(loaded, Mapping):
        raise MalformedDocumentError(
            f"the study spec must be a mapping, got {type(loaded).__name__}"
        )
    return parse_spec_mapping(loaded)


def parse_spec_mapping(data: Mapping[str, Any]) -> StudySpec:
    check_document(data)
    try:
        return StudySpec.model_validate(dict(data))
    except ValidationError as exc:
        raise SpecError.from_validation(exc, StudySpec) from None
