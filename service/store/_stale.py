"""Trials of dead workers: failed, and re-run with the same parameters.

Optuna fails a stale trial first and only then calls back to re-queue it, so for a moment the
failure looks final: a budget counted then completes the study and strands the retry. Here a
trial whose failure will be re-run is marked in the transaction that fails it
(``REQUEUE_ATTR``), and the budget never counts a marked failure (see ``count_trials``). If
the process dies between the failure and the re-queue, the slot it held is repaired by the
sweep and a new trial runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from service.store._counts import REQUEUE_ATTR
from service.store._storage import ServiceStorage

__all__ = ["ServiceStorage", "fail_stale_trials", "requeue"]

log = logging.getLogger(__name__)

def fail_stale_trials(
    study: optuna.Study,
    storage: ServiceStorage,
    *,
    max_retry: int,
    free_slot: Callable[[str], object],
) -> list[int]:
    """Fail the study's stale trials, re-queueing those with retries left; return the
    numbers of the trials this call failed. Safe to run in many processes at once: only one
    of them can move a trial from RUNNING to FAIL."""
    failed = []
    for trial_id in storage.stale_trial_ids(study._study_id):
        trial = storage.get_trial(trial_id)
        retry = _retries_left(trial, max_retry)
        # Re-checked in the statement that fails it: its worker may have beaten (or finished
        # it) since the read, and another process may have failed it first.
        if not storage.fail_if_stale(trial_id, requeue_attr=REQUEUE_ATTR if retry else None):
            continue
        failed.append(trial.number)
        if not retry:
            log.warning("trial %d of %s was stale and is out of retries", trial.number,
                        study.study_name)
            continue
        requeue(study, storage.get_trial(trial_id))
        free_slot(study.study_name)
        log.warning("trial %d of %s was stale; retrying it", trial.number, study.study_name)
    return failed


def _retries_left(trial: FrozenTrial, max_retry: int) -> bool:
    history = trial.system_attrs.get("retry_history", [])
    # Hand-backs on a graceful stop are not failures; only crashes use up retries.
    handbacks = int(trial.system_attrs.get("handbacks", 0))
    return len(history) - handbacks < max_retry


def requeue(study: optuna.Study, trial: FrozenTrial, *, handback: bool = False) -> None:
    """Add a WAITING copy of a failed trial: same parameters, user attributes (so the same
    checkpoint key) and intermediate values; its system attributes link it to ``trial``."""
    inherited = {k: v for k, v in trial.system_attrs.items() if k != REQUEUE_ATTR}
    system_attrs: dict[str, Any] = {
        "failed_trial": trial.number,
        **inherited,
        "retry_history": [*trial.system_attrs.get("retry_history", []), trial.number],
        "handbacks": int(trial.system_attrs.get("handbacks", 0)) + int(handback),
    }
    study.add_trial(optuna.create_trial(
        state=TrialState.WAITING,
        params=trial.params,
        distributions=trial.distributions,
        user_attrs=trial.user_attrs,
        system_attrs=system_attrs,
        intermediate_values=trial.intermediate_values,
    ))
