"""Domain errors of rnntune, the one vocabulary of server, client and CLI.

The tree, classed by whether retrying the same request can help::

    RnntuneError
    ├── InvalidRequestError        the request itself is wrong; retrying will not help
    │   ├── SpecError              a study spec, search space or option is invalid
    │   │   └── UnknownNameError   a name (task, sampler, pruner, space, ...) is not known
    │   ├── MalformedDocumentError the body is not parseable YAML/JSON
    │   ├── DatasetError           an uploaded data set is invalid or not its format
    │   ├── PayloadTooLargeError   the body or upload is over the size limit
    │   └── LimitExceededError     a quota (e.g. running studies per key) is used up
    ├── AuthenticationError        no valid API key
    ├── ForbiddenError             the key's scope does not allow this
    ├── NotFoundError              a study or other resource does not exist
    ├── ConflictError              the request clashes with current state
    └── TransientError             a temporary fault (database busy or restarting); retry

Each class carries, once, what the API answers with: ``status`` (HTTP), ``title`` and
``code`` (the class name, so the client raises the same type again, see :func:`error_class`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # pydantic is not needed to raise or catch these errors
    from pydantic import BaseModel, ValidationError

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "DatasetError",
    "ForbiddenError",
    "InvalidRequestError",
    "LimitExceededError",
    "MalformedDocumentError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RnntuneError",
    "SpecError",
    "TransientError",
    "UnknownNameError",
    "error_class",
    "error_classes",
]


class RnntuneError(Exception):
    """Base of every error rnntune raises on purpose."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    code: ClassVar[str] = "RnntuneError"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.code = cls.__name__

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequestError(RnntuneError):
    """The request is wrong in itself."""

    status = 400
    title = "Bad request"


class SpecError(InvalidRequestError):
    """A spec value is invalid. ``loc`` is the path of the offending field."""

    status = 422
    title = "Invalid request"

    def __init__(
        self,
        message: str,
        *,
        loc: Sequence[str | int] = (),
        details: Sequence[tuple[Sequence[str | int], str]] = (),
    ) -> None:
        super().__init__(message)
        self.loc: tuple[str | int, ...] = tuple(loc)
        # Every problem found, as (location, message); a single error lists itself.
        self.details: list[tuple[tuple[str | int, ...], str]] = [
            (tuple(where), what) for where, what in details
        ] or [(self.loc, message)]

    @classmethod
    def from_validation(
        cls, error: ValidationError, model: type[BaseModel], *, loc: Sequence[str | int] = (),
        noun: str = "field",
    ) -> SpecError:
        """Every problem pydantic found in ``model``'s input, located under ``loc``; unknown
        keys list the allowed ``noun``s, other messages quote the offending input."""
        details: list[tuple[Sequence[str | int], str]] = []
        for problem in error.errors(include_url=False):
            message = problem["msg"]
            if problem["type"] == "extra_forbidden":
                allowed = ", ".join(_fields_at(model, problem["loc"][:-1])) or "none"
                message = f"{message}; allowed {noun}s are: {allowed}"
            elif problem["type"] == "value_error":
                # Our validators' messages are complete: drop pydantic's "Value error, ".
                message = str(problem.get("ctx", {}).get("error", message))
            elif problem["type"] != "missing" and "input" in problem:
                message = f"{message} (got {json.dumps(problem['input'], default=str)[:200]})"
            details.append(((*loc, *problem["loc"]), message))
        first_loc, first_message = details[0]
        return cls(first_message, loc=first_loc, details=details)

    def __str__(self) -> str:
        if not self.loc:
            return self.message
        return f"{'.'.join(str(part) for part in self.loc)}: {self.message}"


def _fields_at(model: type[BaseModel], path: Sequence[str | int]) -> Iterator[str]:
    """The field names of the (nested) model found by following ``path`` from ``model``."""
    for part in path:
        field = model.model_fields.get(str(part))
        annotation: Any = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and hasattr(annotation, "model_fields")):
            break
        model = annotation
    yield from model.model_fields


class UnknownNameError(SpecError):
    """A name is not among the known ones; the message lists the valid names."""

    def __init__(
        self, kind: str, name: Any, valid: Iterable[str], *, loc: Sequence[str | int] = ()
    ) -> None:
        self.kind = kind
        self.name = name
        self.valid = sorted(valid)
        super().__init__(
            f"unknown {kind} {name!r}; valid {kind}s are: {', '.join(self.valid)}", loc=loc
        )


class MalformedDocumentError(InvalidRequestError):
    """The body could not be parsed as YAML or JSON."""

    status = 400
    title = "Bad request"


class PayloadTooLargeError(InvalidRequestError):
    """The request body or upload is larger than allowed."""

    status = 413
    title = "Payload too large"


class LimitExceededError(InvalidRequestError):
    """A configured quota is used up; it frees when running work ends."""

    status = 429
    title = "Limit exceeded"


class AuthenticationError(RnntuneError):
    """The request carries no valid API key."""

    status = 401
    title = "Authentication required"


class ForbiddenError(RnntuneError):
    """The API key is valid but its scope does not allow this request."""

    status = 403
    title = "Forbidden"


class DatasetError(InvalidRequestError):
    """An uploaded data set is not what its format promises, or cannot be used as is."""

    status = 422
    title = "Invalid request"


class NotFoundError(RnntuneError):
    """The addressed resource does not exist."""

    status = 404
    title = "Not found"


class ConflictError(RnntuneError):
    """The request conflicts with the current state (duplicate name, finished study...)."""

    status = 409
    title = "Conflict"


class TransientError(RnntuneError):
    """A temporary fault: the same request may succeed later."""

    status = 503
    title = "Service unavailable"


def _subclasses(kind: type[RnntuneError]) -> Iterator[type[RnntuneError]]:
    yield kind
    for sub in kind.__subclasses__():
        yield from _subclasses(sub)


def error_classes() -> list[type[RnntuneError]]:
    """Every error class, the base first, parents before their children."""
    return list(_subclasses(RnntuneError))


def error_class(code: object, status: int) -> type[RnntuneError]:
    """The error a problem document stands for: by its ``code``, else by its HTTP ``status``
    (the most general class with that status; a 502 or 504 from a proxy is transient)."""
    by_code = {kind.code: kind for kind in error_classes()}
    if isinstance(code, str) and code in by_code:
        return by_code[code]
    if status in (502, 504):
        return TransientError
    for kind in error_classes():
        if kind.status == status:
            return kind
    return InvalidRequestError if 400 <= status < 500 else RnntuneError
