"""API keys: created once (the token is shown once), stored hashed, revocable."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine, func, insert, select, update

from service.errors import NotFoundError
from service.store._engine import utcnow
from service.store._retry import retry_transient
from service.store._tables import api_keys

__all__ = ["SCOPES", "ApiKey", "KeyStore", "Scope", "hash_key"]

Scope = Literal["read", "submit", "admin"]
# Each scope includes the ones before it.
SCOPES: tuple[Scope, ...] = ("read", "submit", "admin")
_TOKEN_PREFIX = "rk_"


def hash_key(token: str) -> str:
    # The tokens are 256-bit random strings, so a fast hash is enough: there is nothing to
    # guess by brute force that is easier than the token itself.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    scope: Scope
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    def allows(self, needed: Scope) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(needed)


class KeyStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, *, name: str, scope: Scope, token: str | None = None) -> tuple[ApiKey, str]:
        """Create a key; return it with its token, which is not stored and not shown again."""

        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}; valid scopes are: {', '.join(SCOPES)}")
        token = token or _TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._engine.begin() as conn:
            key_id = conn.execute(insert(api_keys).values(
                name=name, scope=scope, key_hash=hash_key(token), prefix=token[:10],
                created_at=utcnow(),
            )).inserted_primary_key[0]  # type: ignore[index]
        return self.get(int(key_id)), token

    def get(self, key_id: int) -> ApiKey:
        with self._engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise NotFoundError(f"API key {key_id} does not exist")
        return _key(row._mapping)

    def list(self) -> list[ApiKey]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.id)).all()
        return [_key(row._mapping) for row in rows]

    def revoke(self, key_id: int) -> ApiKey:

        self.get(key_id)
        with self._engine.begin() as conn:
            conn.execute(update(api_keys)
                         .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                         .values(revoked_at=utcnow()))
        return self.get(key_id)

    @retry_transient
    def lookup(self, token: str) -> ApiKey | None:
        """The active key with this token, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(select(api_keys).where(
                api_keys.c.key_hash == hash_key(token), api_keys.c.revoked_at.is_(None)
            )).first()
        return None if row is None else _key(row._mapping)

    @retry_transient
    def any_active(self) -> bool:
        with self._engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(api_keys)
                                 .where(api_keys.c.revoked_at.is_(None))).scalar_one()
        return bool(count)


def _key(row: object) -> ApiKey:
    mapping = dict(row)  # type: ignore[call-overload]
    return ApiKey(
        id=mapping["id"], name=mapping["name"], scope=mapping["scope"], prefix=mapping["prefix"],
        created_at=mapping["created_at"], revoked_at=mapping["revoked_at"],
    )
