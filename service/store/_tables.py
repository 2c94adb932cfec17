"""The service's own tables. They live beside Optuna's, under their own ``rnntune_`` prefix,
with their own migration history (``rnntune_alembic_version``)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

__all__ = [
    "api_keys",
    "checkpoints",
    "claims",
    "datasets",
    "metadata",
    "models",
    "retry_links",
    "studies",
    "study_counters",
]

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
    Column("owner_key_id", Integer, nullable=True, index=True),  # the key that submitted it
    # Every reference score for the objective's metric (the trivial baseline first).
    Column("baselines", JSON, nullable=True),
    # Final evaluation of the best configuration: null (never: cancelled, failed), pending,
    # running (a worker holds the lease until eval_lease_until), done, failed or skipped.
    Column("eval_status", String(16), nullable=True, index=True),
    Column("eval_owner", String(128), nullable=True),
    Column("eval_lease_until", DateTime, nullable=True),
    Column("eval_attempts", Integer, nullable=False, default=0),
    Column("evaluation", JSON, nullable=True),
)

# A study's trials by state and its best trial, kept by every trial state move the service
# makes, in the transaction of the move (``_counters``), so that reading them costs one row
# however many trials the study has. ``retried``: failed trials that a retry re-runs (the
# budget does not count them). A full recount can always rebuild the row (``_recount``).
study_counters = Table(
    "rnntune_study_counters",
    metadata,
    Column("study_id", Integer, primary_key=True, autoincrement=False),
    Column("maximize", Boolean, nullable=False),
    Column("running", Integer, nullable=False, default=0),
    Column("waiting", Integer, nullable=False, default=0),
    Column("complete", Integer, nullable=False, default=0),
    Column("pruned", Integer, nullable=False, default=0),
    Column("fail", Integer, nullable=False, default=0),
    Column("retried", Integer, nullable=False, default=0),
    # The best finite first objective among complete trials; the earliest trial on a tie.
    Column("best_value", Float(precision=53), nullable=True),
    Column("best_number", Integer, nullable=True),
    Column("best_trial_id", Integer, nullable=True),
)

# Trials that are re-run (or about to be): a retry's ``retry_history`` names them, or they
# were marked for re-run before they failed. ``retry_number``: the latest trial re-running it
# (null while only marked).
retry_links = Table(
    "rnntune_retry_links",
    metadata,
    Column("study_id", Integer, primary_key=True, autoincrement=False),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("retry_number", Integer, nullable=True),
)

# Budget slots claimed but not yet turned into a trial. A claim is redeemed (deleted) by the
# trial it becomes, and only while younger than the grace period by the database's clock; an
# older one is dropped by the sweep's slot repair, and its worker then gives its trial back.
claims = Table(
    "rnntune_claims",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, nullable=False, index=True),
    Column("claimed_at", DateTime, nullable=False),
    sqlite_autoincrement=True,  # an id is never reused: a dropped claim stays dropped
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

# Uploaded data sets, bytes and all, so that a worker on any machine can read them by id.
datasets = Table(
    "rnntune_datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("format", String(8), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("meta", JSON, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("owner_key_id", Integer, nullable=True, index=True),
    Column("content", LargeBinary, nullable=False),
)

# The best model of each evaluated study (``service.models.build_bundle``): weights,
# configuration and preprocessing, written by the worker that ran the final evaluation.
models = Table(
    "rnntune_models",
    metadata,
    Column("study_id", Integer, primary_key=True, autoincrement=False),
    Column("size_bytes", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("content", LargeBinary, nullable=False),
)

# API keys are stored as SHA-256 hashes of high-entropy random tokens; the token itself is
# shown once, when created.
api_keys = Table(
    "rnntune_api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=True),
)
