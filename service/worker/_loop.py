"""One worker process: claim a budget slot, run one trial of that study, repeat.

Each trial runs inside ``study.optimize(n_trials=1)`` because only ``optimize`` keeps Optuna's
heartbeat; before it, the worker fails (and re-queues) stale trials of dead workers. Nothing a
trial does can end the worker: trial errors become FAIL trials, storage errors are logged and
retried.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import optuna
import torch

from service.config import Settings
from service.errors import RnntuneError
from service.specs import parse_spec_mapping
from service.store import (
    STORAGE_FAULTS,
    Claim,
    StudyRecord,
    is_disk_full,
    is_transient,
)
from service.training import resolve_device
from service.tuning import (
    TrialInterrupted,
    build_pruner,
    build_sampler,
    make_objective,
)
from service.tuning import resolve_spec as resolve
from service.worker._evaluation import run_pending_evaluation
from service.worker._store import WorkerStore
from service.worker._studies import StudyCache

__all__ = ["Worker"]

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 30.0


class Worker:
    def __init__(
        self,
        settings: Settings,
        *,
        worker_id: str,
        device: str | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self.device = resolve_device(device or settings.device)
        self.stop = stop or threading.Event()
        self.store = WorkerStore(settings)
        self.trials_run = 0
        self._last_sweep = 0.0
        # The studies this worker ran lately, with Optuna's caches of their finished trials.
        self.studies = StudyCache(settings.worker_cached_studies)

    def run_forever(self, *, max_trials: int | None = None) -> None:
        """Work until stopped (or ``max_trials`` trials ran); sleep while there is no work."""
        backoff = self.settings.poll_interval_s
        self.store.initialize()
        log.info("worker %s on %s ready", self.worker_id, self.device)
        while not self.stop.is_set():
            if max_trials is not None and self.trials_run >= max_trials:
                break
            try:
                worked = self.run_once()
                backoff = self.settings.poll_interval_s
            except STORAGE_FAULTS as exc:
                if is_disk_full(exc):
                    # Not a hiccup: nothing can be written until an operator frees space.
                    log.critical("worker %s: the database's disk is full; waiting %.0fs "
                                 "between tries: %s", self.worker_id, _MAX_BACKOFF_S, exc)
                    backoff = _MAX_BACKOFF_S
                else:
                    # The database is busy or restarting; wait and try again.
                    log.warning("worker %s: storage error, retrying in %.1fs: %s",
                                self.worker_id, backoff, exc)
                worked = False
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
            if not worked:
                self.stop.wait(backoff)
        self.store.close()

    def run_once(self) -> bool:
        """Evaluate a completed study, or else run one trial of some active study. False when
        there was nothing to do. Evaluations go first: a user is waiting for them."""
        if run_pending_evaluation(self.store, self.settings, owner=self.worker_id,
                                  device=self.device, stop=self.stop):
            return True
        claim = self.store.claim()
        if claim is None:
            self._sweep_when_due()
            return False
        try:
            self._run_trial(claim)
        finally:
            with contextlib.suppress(Exception):  # the sweep repairs the count if this fails
                self.store.trial_ended(claim.study.id)
        self.trials_run += 1
        with contextlib.suppress(RnntuneError):  # the study may be deleted meanwhile
            self.store.refresh_status(claim.study.id)
        return True

    def _sweep_when_due(self) -> None:
        # An idle worker reaps trials of dead workers too, so a deployment without an API
        # server (workers only) still recovers stale trials whose slots block the budget.
        now = time.monotonic()
        if now - self._last_sweep >= self.settings.sweep_interval_s:
            self._last_sweep = now
            self.store.sweep()

    def _run_trial(self, claim: Claim) -> None:
        record = claim.study
        try:
            resolved = resolve(parse_spec_mapping(record.spec), datasets=self.store.datasets,
                               spaces_dir=self.settings.search_spaces_dir)
        except RnntuneError as exc:
            # Specs are validated at submit; a stored spec that no longer resolves (say, a
            # task removed in an upgrade) fails its study rather than every worker.
            log.error("study %s cannot run: %s", record.id, exc)
            self.store.fail_study(record.id, f"spec no longer valid: {exc}")
            return
        spec = resolved.spec
        sampler = build_sampler(spec.sampler.name, spec.sampler.options(),
                                seed=spec.sampler.seed, slot=claim.slot, space=resolved.space)
        pruner = build_pruner(spec.pruner.name, spec.pruner.options(),
                              max_epochs=spec.budget.max_epochs)
        try:
            study = self._load_study(record, sampler, pruner)
        except KeyError:
            log.info("study %s was deleted before its trial started", record.id)
            return
        objective = make_objective(
            resolved,
            device=self.device,
            device_label=self.settings.device_label,
            worker=self.worker_id,
            study_id=record.id,
            checkpoints=self.store.checkpoints,
            checkpoint_every=self.settings.checkpoint_every_epochs,
            should_interrupt=self.stop.is_set,
        )
        interrupted: list[int] = []  # handed back; their slot is freed for the re-run
        expired: list[int] = []  # handed back; their claim's slot was already given away

        def give_back(number: int, into: list[int]) -> None:
            into.append(number)
            # Marked before Optuna fails it, so the budget never counts it as done.
            try:
                self.store.mark_requeue(record.id, number)
            except Exception as error:  # the re-run's retry history still excludes it
                log.warning("trial %d of study %s not marked for re-run: %s",
                            number, record.id, error)

        def run(trial: optuna.Trial) -> float:
            # The trial redeems the claim it was started under; a claim the sweep has
            # dropped (its worker looked dead) may have gone to another worker already.
            if not self.store.redeem(claim):
                give_back(trial.number, expired)
                raise ClaimExpired(f"the claim for trial {trial.number} expired")
            try:
                return objective(trial)
            except TrialInterrupted as exc:
                give_back(exc.trial_number, interrupted)
                raise
            except Exception as exc:
                if not is_transient(exc):
                    raise
                # A database fault is not the configuration's: keep its checkpoint and
                # hand it back, like an interruption, instead of recording a FAIL.
                log.warning("worker %s: database fault in trial %d of study %s, handing it "
                            "back: %s", self.worker_id, trial.number, record.id, exc)
                give_back(trial.number, interrupted)
                raise

        started = time.monotonic()
        try:
            # Optuna's own stale-trial pass inside optimize is off (see store._stale).
            self.store.fail_stale_trials(study)
            study.optimize(run, n_trials=1, catch=(Exception,), gc_after_trial=False)
            for number in interrupted:
                # Its checkpoint is saved; another worker resumes it.
                self.store.hand_back(study, number)
                log.info("worker %s: handed back trial %d of study %s", self.worker_id,
                         number, record.id)
            for number in expired:
                self.store.hand_back(study, number, free_slot=False)
                log.warning("worker %s: claim expired before trial %d of study %s started; "
                            "handed it back", self.worker_id, number, record.id)
        except STORAGE_FAULTS:
            self.studies.clear()  # read them afresh once the database is back
            raise
        except Exception as exc:
            self.studies.drop(record.id)
            # optimize() itself failed (e.g. the study was deleted mid-trial, or a storage
            # error at tell). The heartbeat sweep recovers a trial left RUNNING.
            log.warning("worker %s: trial of study %s ended abnormally: %r",
                        self.worker_id, record.id, exc)
            return
        log.info("worker %s: trial of study %s done in %.1fs", self.worker_id, record.id,
                 time.monotonic() - started)

    def _load_study(
        self,
        record: StudyRecord,
        sampler: optuna.samplers.BaseSampler,
        pruner: optuna.pruners.BasePruner,
    ) -> optuna.Study:
        """The study with this trial's sampler and pruner, from the cache when it is there."""
        return self.studies.get(
            record, sampler=sampler, pruner=pruner,
            load=lambda: self.store.load_study(record, sampler=sampler, pruner=pruner),
        )


class ClaimExpired(Exception):
    """The trial's claim was older than the grace period when the trial started."""


def configure_torch_threads(threads: int) -> None:
    """One thread per process: two 1-thread workers beat one 2-thread worker by ~1.75x."""
    torch.set_num_threads(threads)
