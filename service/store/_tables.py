"""The service's own tables. They live beside Optuna's, under their own ``rnntune_`` prefix,
with their own migration history (``rnntune_alembic_version``)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

__all__ = ["checkpoints", "metadata", "studies"]

# A metadata object of our own: nothing here ever touches Optuna's tables.
metadata = MetaData()

studies = Table(
    "rnntune_studies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # Optuna's study_id
    Column("name", String(128), nullable=False, unique=True),  # Optuna's study_name
    Column("status", String(16), nullable=False, index=True),
    Column("stop_reason", String(256), nullable=True),
    Column("spec", JSON, nullable=False),
    Column("n_trials", Integer, nullable=False),
    # Budget slots handed to workers: a worker claims one before it asks Optuna for a trial,
    # so parallel workers can never start more trials than the budget.
    Column("claimed", Integer, nullable=False, default=0),
    # Claimed slots whose trial has not ended yet; bounded by max_parallel.
    Column("in_flight", Integer, nullable=False, default=0),
    Column("priority", Integer, nullable=False, default=0),
    Column("max_parallel", Integer, nullable=True),
    Column("last_claim_at", DateTime, nullable=True),
    Column("deadline", DateTime, nullable=True),
    Column("timeout_s", Float, nullable=True),
    Column("baseline", JSON, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("started_at", DateTime, nullable=True),
    Column("completed_at", DateTime, nullable=True),
)

# The latest epoch checkpoint of a trial lineage (a trial and its retries share the key),
# in the database itself so that a worker on any machine can resume it.
checkpoints = Table(
    "rnntune_checkpoints",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("study_id", Integer, nullable=False, index=True),
    Column("epoch", Integer, nullable=False),
    Column("state", LargeBinary, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
