"""The error vocabulary: each class names its status and code once, and a problem document's
code (or, failing that, its status) leads back to the class."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.errors import (
    DatasetError,
    InvalidRequestError,
    MalformedDocumentError,
    NotFoundError,
    RnntuneError,
    SpecError,
    TransientError,
    UnknownNameError,
    error_class,
    error_classes,
)


def test_every_class_has_its_own_code_and_a_status() -> None:
    classes = error_classes()
    assert classes[0] is RnntuneError
    assert len({kind.code for kind in classes}) == len(classes)
    for kind in classes:
        assert kind.code == kind.__name__
        assert 400 <= kind.status < 600 and kind.title


@pytest.mark.parametrize("kind", error_classes())
def test_a_code_leads_back_to_its_class(kind: type[RnntuneError]) -> None:
    assert error_class(kind.code, kind.status) is kind


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        (None, 400, InvalidRequestError),
        ("HTTPError", 404, NotFoundError),
        (None, 422, SpecError),
        ("NoSuchError", 502, TransientError),
        (None, 504, TransientError),
        (None, 405, InvalidRequestError),
        ("InternalError", 500, RnntuneError),
        ("StorageFullError", 507, RnntuneError),
    ],
)
def test_without_a_known_code_the_status_decides(
    code: str | None, status: int, kind: type[RnntuneError]
) -> None:
    assert error_class(code, status) is kind


def test_statuses_of_the_tree() -> None:
    assert (SpecError.status, UnknownNameError.status, DatasetError.status) == (422, 422, 422)
    assert (MalformedDocumentError.status, TransientError.status) == (400, 503)


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = Field(ge=1)


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    inner: _Inner


def test_from_validation_lists_every_problem_where_it_is() -> None:
    with pytest.raises(ValidationError) as info:
        _Outer.model_validate({"inner": {"size": 0, "colour": "red"}, "extra": 1})
    error = SpecError.from_validation(info.value, _Outer, loc=("spec",), noun="field")
    where = {loc: message for loc, message in error.details}
    assert "Field required" in where[("spec", "name")]
    assert "(got 0)" in where[("spec", "inner", "size")]
    assert where[("spec", "inner", "colour")].endswith("allowed fields are: size")
    assert where[("spec", "extra")].endswith("allowed fields are: name, inner")
    assert error.loc == error.details[0][0]
