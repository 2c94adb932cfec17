"""Persistence: the service's tables and Optuna's storage in one SQL database."""

from service.store._counts import count_trials, retried_numbers, retry_of
from service.store._engine import engine_kwargs, make_engine
from service.store._keys import SCOPES, ApiKey, KeyStore, Scope, hash_key
from service.store._store import ACTIVE_STATUSES, Claim, StudyRecord, StudyStore, utcnow
from service.store._views import best_trial, study_public, trial_public, trials_public

__all__ = [
    "ACTIVE_STATUSES",
    "SCOPES",
    "ApiKey",
    "Claim",
    "KeyStore",
    "Scope",
    "StudyRecord",
    "StudyStore",
    "best_trial",
    "count_trials",
    "engine_kwargs",
    "hash_key",
    "make_engine",
    "retried_numbers",
    "retry_of",
    "study_public",
    "trial_public",
    "trials_public",
    "utcnow",
]
