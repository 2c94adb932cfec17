"""Optuna's per-study cache of trials, without the refresh ``ask`` runs to find waiting trials.

``Study.ask`` first looks for a WAITING trial to run (``get_all_trials(states=(WAITING,))``),
and Optuna's cache answers any read by first reloading every trial unfinished at its last
read plus every newer one: with 64 workers on one study, about 60 trials, read again a moment
later by the sampler. Waiting trials are rare (enqueued configurations, re-runs), so the
cache first asks the database whether the study has one, in one indexed query, and reads
nothing more when it has none.
"""

from __future__ import annotations

from collections.abc import Container

from optuna.storages._cached_storage import _CachedStorage
from optuna.trial import FrozenTrial, TrialState

from service.store._storage import ServiceStorage

__all__ = ["ServiceCachedStorage"]

_ONLY_WAITING = (TrialState.WAITING,)


class ServiceCachedStorage(_CachedStorage):
    def __init__(self, backend: ServiceStorage) -> None:
        super().__init__(backend)
        self._service_backend = backend

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        if states == _ONLY_WAITING and not self._service_backend.has_waiting_trial(study_id):
            return []
        return super().get_all_trials(study_id, deepcopy=deepcopy, states=states)
