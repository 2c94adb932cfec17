"""Persistence: the service's tables and Optuna's storage in one SQL database."""

from service.store._counts import count_trials, primary_value, retried_numbers, retry_of
from service.store._datasets import DatasetRecord, DatasetStore
from service.store._engine import engine_kwargs, make_engine
from service.store._evaluations import EVALUATION_STATUSES, EvaluationStore
from service.store._keys import SCOPES, ApiKey, KeyStore, Scope, hash_key
from service.store._models import ModelFile, ModelStore
from service.store._retry import STORAGE_FAULTS, is_disk_full, is_transient
from service.store._store import ACTIVE_STATUSES, Claim, StudyRecord, StudyStore, utcnow
from service.store._summary import TrialSummary, summarize
from service.store._views import (
    best_trial,
    evaluation_public,
    study_public,
    study_public_from_summary,
    task_label,
    trial_public,
    trials_public,
)

__all__ = [
    "ACTIVE_STATUSES",
    "EVALUATION_STATUSES",
    "SCOPES",
    "STORAGE_FAULTS",
    "ApiKey",
    "Claim",
    "DatasetRecord",
    "DatasetStore",
    "EvaluationStore",
    "KeyStore",
    "ModelFile",
    "ModelStore",
    "Scope",
    "StudyRecord",
    "StudyStore",
    "TrialSummary",
    "best_trial",
    "count_trials",
    "engine_kwargs",
    "evaluation_public",
    "hash_key",
    "is_disk_full",
    "is_transient",
    "make_engine",
    "primary_value",
    "retried_numbers",
    "retry_of",
    "study_public",
    "study_public_from_summary",
    "summarize",
    "task_label",
    "trial_public",
    "trials_public",
    "utcnow",
]
