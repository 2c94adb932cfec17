"""'Now minus some seconds' on the database's own clock, for conditions evaluated inside a
statement: hosts' clocks may disagree, the database's is the one every process shares."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

__all__ = ["ago", "ago_params"]


def ago(conn: Connection, param: str = "ago") -> str:
    """SQL for the database's current time minus the seconds bound by ``ago_params``.

    Both forms compare with timestamps that Optuna and this package write with the
    database's ``CURRENT_TIMESTAMP`` (text on SQLite, local time on PostgreSQL).
    """
    if conn.dialect.name == "sqlite":
        return f"datetime('now', :{param}_modifier)"
    return f"(LOCALTIMESTAMP - make_interval(secs => :{param}_seconds))"


def ago_params(seconds: float, param: str = "ago") -> dict[str, Any]:
    return {f"{param}_seconds": float(seconds), f"{param}_modifier": f"-{float(seconds)} seconds"}

