"""The service's own tables. They live beside Optuna's, under their own ``rnntune_`` prefix."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
)

__all__ = ["metadata", "studies"]

# A metadata object of our own: create_all never touches Optuna's tables.
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
    Column("last_claim_at", DateTime, nullable=True),
    Column("deadline", DateTime, nullable=True),
    Column("timeout_s", Float, nullable=True),
    Column("baseline", JSON, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("started_at", DateTime, nullable=True),
    Column("completed_at", DateTime, nullable=True),
)
