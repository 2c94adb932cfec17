"""Domain errors of rnntune. They know nothing about HTTP; ``service.api`` maps them.

The tree, classed by whether retrying the same request can help::

    RnntuneError
    ├── InvalidRequestError        the request itself is wrong; retrying will not help
    │   ├── SpecError              a study spec, search space or option is invalid (HTTP 422)
    │   │   └── UnknownNameError   a name (task, sampler, pruner, space, ...) is not known
    │   ├── MalformedDocumentError the body is not parseable YAML/JSON (HTTP 400)
    │   ├── DatasetError           an uploaded data set is invalid or not its format (HTTP 422)
    │   ├── PayloadTooLargeError   the body or upload is over the size limit (HTTP 413)
    │   └── LimitExceededError     a quota (e.g. running studies per key) is used up (HTTP 429)
    ├── AuthenticationError        no valid API key (HTTP 401)
    ├── ForbiddenError             the key's scope does not allow this (HTTP 403)
    ├── NotFoundError              a study or other resource does not exist (HTTP 404)
    ├── ConflictError              the request clashes with current state (HTTP 409)
    └── TransientError             a temporary fault (database busy or restarting); retry (HTTP 503)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

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
]


class RnntuneError(Exception):
    """Base of every error rnntune raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequestError(RnntuneError):
    """The request is wrong in itself."""


class SpecError(InvalidRequestError):
    """A spec value is invalid. ``loc`` is the path of the offending field."""

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

    def __str__(self) -> str:
        if not self.loc:
            return self.message
        return f"{'.'.join(str(part) for part in self.loc)}: {self.message}"


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


class PayloadTooLargeError(InvalidRequestError):
    """The request body or upload is larger than allowed."""


class LimitExceededError(InvalidRequestError):
    """A configured quota is used up; it frees when running work ends."""


class AuthenticationError(RnntuneError):
    """The request carries no valid API key."""


class ForbiddenError(RnntuneError):
    """The API key is valid but its scope does not allow this request."""


class DatasetError(InvalidRequestError):
    """An uploaded data set is not what its format promises, or cannot be used as is."""


class NotFoundError(RnntuneError):
    """The addressed resource does not exist."""


class ConflictError(RnntuneError):
    """The request conflicts with the current state (duplicate name, finished study...)."""


class TransientError(RnntuneError):
    """A temporary fault: the same request may succeed later."""
