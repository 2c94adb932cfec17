"""Persistence: the service's tables and Optuna's storage in one SQL database.

The store is the only package that touches Optuna's storage; it reads Optuna's tables
directly (``_optuna_tables``, ``_summary``, ``_trial_rows``) where the storage API would load
whole studies.
"""

from service.store._counts import best_trial, count_trials, primary_value, retry_of
from service.store._datasets import DatasetRecord
from service.store._engine import engine_kwargs, utcnow
from service.store._keys import ApiKey, KeyStore, Scope
from service.store._records import ACTIVE_STATUSES, Claim, StudyRecord, StudyRow
from service.store._retry import STORAGE_FAULTS, is_disk_full, is_transient
from service.store._store import StudyStore
from service.store._summary import BestTrial, TrialSummary
from service.store._trial_rows import TrialStamp

__all__ = [
    "ACTIVE_STATUSES",
    "STORAGE_FAULTS",
    "ApiKey",
    "BestTrial",
    "Claim",
    "DatasetRecord",
    "KeyStore",
    "Scope",
    "StudyRecord",
    "StudyRow",
    "StudyStore",
    "TrialStamp",
    "TrialSummary",
    "best_trial",
    "count_trials",
    "engine_kwargs",
    "is_disk_full",
    "is_transient",
    "primary_value",
    "retry_of",
    "utcnow",
]
