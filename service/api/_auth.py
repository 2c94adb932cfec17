"""Who is calling: API keys with scopes (read < submit < admin).

Keys come as ``Authorization: Bearer <key>``, ``X-API-Key: <key>`` or HTTP Basic with the key
as password (so a browser can open the dashboard). With ``auth=auto`` the service is open until
the first key exists; then every request needs one.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from service.config import Settings
from service.errors import AuthenticationError, ForbiddenError, NotFoundError
from service.store import ApiKey, KeyStore, Scope, StudyRecord, StudyStore

__all__ = [
    "AuthGate",
    "Principal",
    "ReadPrincipal",
    "SubmitPrincipal",
    "can_see",
    "own_studies_only",
    "prepare_keys",
    "token_from_headers",
    "visible_study",
]

_OPEN_CACHE_S = 2.0


@dataclass(frozen=True)
class Principal:
    """The caller: an API key, or nobody when the service runs open (then all is allowed)."""

    key: ApiKey | None

    @property
    def key_id(self) -> int | None:
        return None if self.key is None else self.key.id

    @property
    def is_admin(self) -> bool:
        return self.key is None or self.key.scope == "admin"

    def allows(self, needed: Scope) -> bool:
        return self.key is None or self.key.allows(needed)


def can_see(principal: Principal, record: StudyRecord) -> bool:
    """Admins and read keys see every study; submit keys only their own."""
    owner = own_studies_only(principal)
    return owner is None or record.owner_key_id == owner


def own_studies_only(principal: Principal) -> int | None:
    """The key whose studies alone this caller may see (a submit key), or None: all."""
    if principal.key is None or principal.key.scope in ("admin", "read"):
        return None
    return principal.key.id


def visible_study(store: StudyStore, principal: Principal, study_id: int) -> StudyRecord:
    """The study, if this caller may see it; otherwise it does not exist for them."""
    record = store.get(study_id)
    if not can_see(principal, record):
        raise NotFoundError(f"study {study_id} does not exist")
    return record


def token_from_headers(headers: dict[str, str]) -> str | None:
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return headers.get("x-api-key") or None


class AuthGate:
    """Decides whether keys are required, and resolves a request's key."""

    def __init__(self, settings: Settings, keys: KeyStore) -> None:
        self._settings = settings
        self._keys = keys
        self._required_until = 0.0
        self._required = True

    def keys_required(self) -> bool:
        if self._settings.auth != "auto":
            return self._settings.auth == "on"
        if self._settings.binds_beyond_loopback:
            return True
        now = time.monotonic()
        if now >= self._required_until:  # a key created meanwhile closes the door
            self._required = self._keys.any_active()
            self._required_until = now + _OPEN_CACHE_S
        return self._required

    def known_open(self) -> bool:
        """Whether keys are known not to be required without asking the database."""
        if self._settings.auth != "auto":
            return self._settings.auth == "off"
        return (not self._settings.binds_beyond_loopback and not self._required
                and time.monotonic() < self._required_until)

    def principal(self, headers: dict[str, str], needed: Scope) -> Principal:
        if not self.keys_required():
            return Principal(key=None)
        token = token_from_headers(headers)
        if token is None:
            raise AuthenticationError(
                "this service needs an API key: send 'Authorization: Bearer <key>'"
            )
        key = self._keys.lookup(token)
        if key is None:
            raise AuthenticationError("the API key is unknown or revoked")
        if not key.allows(needed):
            raise ForbiddenError(
                f"key {key.prefix}... has scope {key.scope!r}; this needs {needed!r}"
            )
        return Principal(key=key)


def prepare_keys(settings: Settings, keys: KeyStore) -> None:
    """Create the bootstrap admin key if asked to, then refuse to serve beyond loopback
    without any key (unless auth is explicitly off)."""
    if settings.bootstrap_admin_key and not keys.any_active():
        keys.create(name="bootstrap-admin", scope="admin", token=settings.bootstrap_admin_key)
    if settings.auth != "off" and settings.binds_beyond_loopback and not keys.any_active():
        raise InsecureStartError(
            f"refusing to serve on {settings.host} without API keys: create one with "
            "`rnntune keys create --scope admin --name NAME` (or set "
            "RNNTUNE_BOOTSTRAP_ADMIN_KEY), or bind to 127.0.0.1"
        )


class InsecureStartError(RuntimeError):
    """The server would be reachable from the network with no key required."""


def _resolver(needed: Scope) -> object:
    async def resolve(request: Request) -> Principal:
        gate: AuthGate = request.app.state.auth
        if gate.known_open():  # no database read, so no trip through the thread pool
            return Principal(key=None)
        headers = {k.lower(): v for k, v in request.headers.items()}
        return await run_in_threadpool(gate.principal, headers, needed)

    return resolve


ReadPrincipal = Annotated[Principal, Depends(_resolver("read"))]
SubmitPrincipal = Annotated[Principal, Depends(_resolver("submit"))]
