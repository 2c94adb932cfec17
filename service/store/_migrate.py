"""Schema migrations of the service's tables with Alembic, under their own version table."""

from __future__ import annotations

import hashlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

__all__ = ["current_revision", "head_revision", "upgrade"]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_VERSION_TABLE = "rnntune_alembic_version"
# Key of the PostgreSQL advisory lock that serialises upgrades started on many machines.
_LOCK_KEY = int.from_bytes(hashlib.sha256(b"rnntune-migrations").digest()[:4], "big")


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    script = ScriptDirectory(str(_MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": _VERSION_TABLE})
        return context.get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the service's tables to the newest revision; a no-op when already there."""
    if current_revision(engine) == head_revision():
        return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Workers on many machines may start at once; one migrates, the rest wait.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        elif conn.dialect.name == "sqlite":
            # Take the write lock first, so a second process waits instead of racing.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        command.upgrade(_config(conn), "head")
