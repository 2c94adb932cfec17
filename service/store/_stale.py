"""Trials of dead workers: failed, and re-run with the same parameters.

Optuna fails a stale trial first and only then calls back to re-queue it, so for a moment the
failure looks final: a budget counted then completes the study and strands the retry. Here a
trial whose failure will be re-run is marked *before* it is failed (``REQUEUE_ATTR``), and the
budget never counts a marked failure (see ``count_trials``). If the process dies between the
failure and the re-queue, the slot it held is repaired by the sweep and a new trial runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import DateTime, bindparam, text

from service.store._counts import REQUEUE_ATTR

__all__ = ["ServiceStorage", "fail_stale_trials", "requeue"]

log = logging.getLogger(__name__)

# The transitions made atomic: the states a trial may be moved out of into each target state.
_ATOMIC_FROM = {
    TrialState.RUNNING: (TrialState.WAITING,),
    TrialState.FAIL: (TrialState.RUNNING, TrialState.WAITING),
}


class ServiceStorage(RDBStorage):
    """Optuna's RDB storage with a heartbeat that outlives database hiccups, trial state moves
    that cannot race, and without Optuna's own stale-trial pass (``fail_stale_trials`` below
    replaces it)."""

    def record_heartbeat(self, trial_id: int) -> None:
        # Optuna's heartbeat thread ends at its first exception, and a live trial whose
        # heartbeat stopped is failed as stale once the grace period is over. A database
        # restart must cost a missed beat, not the trial.
        try:
            super().record_heartbeat(trial_id)
        except Exception as error:
            log.warning("heartbeat of trial %d not recorded: %s", trial_id, error)

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        # Optuna reads the state and then writes it; on SQLite the read runs outside the
        # write's transaction, so two processes could both start one WAITING trial, or both
        # fail one stale trial and re-queue it twice. One conditional UPDATE cannot race.
        if values is None and state in _ATOMIC_FROM:
            return self._move_trial(trial_id, state)
        return super().set_trial_state_values(trial_id, state, values)

    def _move_trial(self, trial_id: int, state: TrialState) -> bool:
        moment = "datetime_start" if state == TrialState.RUNNING else "datetime_complete"
        allowed = [s.name for s in _ATOMIC_FROM[state]]
        with self.engine.begin() as conn:
            moved = conn.execute(
                text(f"UPDATE trials SET state = :state, {moment} = :now "
                     "WHERE trial_id = :id AND state IN :allowed")
                .bindparams(bindparam("allowed", expanding=True),
                            bindparam("now", type_=DateTime())),
                {"state": state.name, "now": datetime.now(), "id": trial_id,
                 "allowed": allowed},
            ).rowcount
            if moved == 1:
                return True
            current = conn.execute(text("SELECT state FROM trials WHERE trial_id = :id"),
                                   {"id": trial_id}).scalar()
        if current is None:
            raise KeyError(f"no trial with id {trial_id}")
        # Raises UpdateFinishedTrialError for a finished trial, as Optuna's own method does.
        self.check_trial_is_updatable(trial_id, TrialState[str(current)])
        return False

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        # Called by Optuna inside ``optimize``, where a stale trial would be failed before
        # being marked for its retry. The service runs ``fail_stale_trials`` itself.
        return []

    def stale_trial_ids(self, study_id: int) -> list[int]:
        """Running trials of the study whose heartbeat is older than the grace period."""
        return super()._get_stale_trial_ids(study_id)


def fail_stale_trials(
    study: optuna.Study,
    storage: ServiceStorage,
    *,
    max_retry: int,
    free_slot: Callable[[str], None],
) -> list[int]:
    """Fail the study's stale trials, re-queueing those with retries left; return the
    numbers of the trials this call failed. Safe to run in many processes at once: only one
    of them can move a trial from RUNNING to FAIL."""
    failed = []
    for trial_id in storage.stale_trial_ids(study._study_id):
        trial = storage.get_trial(trial_id)
        retry = _retries_left(trial, max_retry)
        try:
            if retry:
                storage.set_trial_system_attr(trial_id, REQUEUE_ATTR, True)
            if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # finished by its worker, or failed by another process
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
