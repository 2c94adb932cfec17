"""``StudyStore``: the service's database, studies first.

One object holds the engines and the sub-stores (keys, datasets, models, checkpoints,
evaluations); the study methods come from its parts: ``_lifecycle`` (create, cancel,
complete, delete), ``_claims`` (budget slots for workers), ``_reads`` (pages, best trial,
Pareto front, aggregates) and, here, the periodic sweep that needs all of them and the
counters' recount and repair.
"""

from __future__ import annotations

import contextlib
import logging
import time

from service.config import Settings
from service.errors import NotFoundError
from service.store import _due, _optuna_tables, _recount
from service.store._claims import Claims
from service.store._dbtime import ago_params
from service.store._engine import utcnow
from service.store._lifecycle import Lifecycle
from service.store._reads import Reads
from service.store._recount import Counted
from service.store._retry import retry_transient
from service.store._stale import fail_stale_trials

__all__ = ["StudyStore"]

log = logging.getLogger(__name__)


class StudyStore(Lifecycle, Claims, Reads):
    orphan_grace_s: float = 60.0  # see _reconcile

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._empty_orphans: dict[str, float] = {}  # name -> first seen (monotonic)

    def sweep(self) -> None:
        """Fail stale trials (retrying them), repair leaked slots, refresh statuses.

        Workers do the stale-trial part before each trial too; the API server runs this
        periodically so zombies are reaped even when no worker is asking.
        """
        self._reconcile()
        self._end_trials_of_stopped_studies()
        collected = self.checkpoints.collect()
        if collected:
            log.info("deleted %d checkpoints nobody will resume", collected)
        # Only studies with something to do: each kind is found by one query, so a sweep
        # over studies of thousands of trials with nothing off costs a few index reads.
        for study_id in self.optuna_storage.stale_study_ids():
            with contextlib.suppress(KeyError, NotFoundError):  # deleted meanwhile
                self.fail_stale_trials(self.load_study(self.get(study_id)))
        grace = ago_params(self.settings.grace_period_s)
        with self.engine.connect() as conn:
            off = _due.slots_off(conn, grace)
        for study_id in off:
            with contextlib.suppress(NotFoundError):
                self.repair_slots(study_id)
        with self.engine.connect() as conn:
            due = _due.due_studies(conn, utcnow())
        for study_id in due:
            with contextlib.suppress(NotFoundError):
                self.refresh_status(study_id)

    def _settle_slots(self, study_id: int) -> None:
        # A repair during the run counts a claim redeemed meanwhile twice (too few slots,
        # never too many), and each such trial's end takes one back: at 64 workers a study
        # completed with 3 slots and 2 trials in flight too many. Repaired once more at the end.
        with contextlib.suppress(NotFoundError):
            self.repair_slots(study_id)

    @retry_transient
    def kept_counters(self, study_id: int) -> Counted | None:
        """The study's counters row and retry links as kept (None: no row yet)."""
        with self.engine.connect() as conn:
            return _recount.kept(conn, study_id)

    @retry_transient
    def recount_counters(self, study_id: int) -> Counted:
        """The study's counters from a full recount of its trials (reads every trial)."""
        with self.engine.connect() as conn:
            return _recount.recount(conn, study_id)

    @retry_transient
    def repair_counters(self, study_id: int) -> bool:
        """Overwrite the study's counters with a full recount; True when they were off
        (after an upgrade, or trials moved through Optuna's API by another program)."""
        self.get(study_id)  # raises NotFoundError
        changed = _recount.repair(self.engine, study_id)
        if changed:
            log.warning("study %s: trial counters were off; recounted", study_id)
        return changed

    def _reconcile(self) -> None:
        """Our rows and Optuna's studies must agree. An active study whose Optuna study is
        gone (deleted or renamed outside the service: a renamed study is a copy under a new
        id) is failed, or workers would claim it for ever. An Optuna study without a row and
        without trials, seen so on every sweep for ``orphan_grace_s``, was left by a create
        that crashed before its row was written, and is deleted; others may be a user's own,
        and stay. The grace is in time, not sweeps: a create on a loaded machine can take
        longer than two sweeps between Optuna's study and our row."""
        with self.engine.connect() as conn:
            lost = _optuna_tables.lost_studies(conn)
            empty = _optuna_tables.orphan_empty_studies(conn)
        for study_id in lost:
            log.warning("study %s: its Optuna study was deleted or renamed outside the "
                        "service; failing it", study_id)
            self.fail_study(study_id, "its Optuna study was deleted or renamed outside the "
                            "service")
            self.checkpoints.delete_study(study_id)
        now = time.monotonic()
        self._empty_orphans = {name: self._empty_orphans.get(name, now) for name in empty}
        for name, since in list(self._empty_orphans.items()):
            if since < now and now - since >= self.orphan_grace_s:
                log.info("deleting Optuna study %s, left without a service row", name)
                self._delete_optuna_study(name)
                del self._empty_orphans[name]

    def _end_trials_of_stopped_studies(self) -> None:
        """Trials of dead workers in a cancelled, failed or completed study: no retry will
        run, but they must not stay RUNNING for ever."""
        with self.engine.connect() as conn:
            stopped = _optuna_tables.stopped_studies_with_running_trials(conn)
        for study_id in stopped:
            with contextlib.suppress(KeyError, NotFoundError):
                fail_stale_trials(self.load_study(self.get(study_id)), self.optuna_storage,
                                  max_retry=0, free_slot=lambda _: None)
