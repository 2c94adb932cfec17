"""Alembic environment for the service's own tables (never Optuna's)."""

from __future__ import annotations

from alembic import context

from service.store._tables import metadata

VERSION_TABLE = "rnntune_alembic_version"


def _include(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    # Autogenerate must not see Optuna's tables as "removed".
    return type_ != "table" or bool(name and name.startswith("rnntune_"))


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    include_object=_include,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
