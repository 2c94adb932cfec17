"""A study's life in the store: created with its Optuna study, completed, cancelled, failed,
deleted; each move a conditional UPDATE so API and workers apply the same rules."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError

from service.errors import ConflictError, TransientError
from service.store._base import StoreBase
from service.store._counts import TrialCounts
from service.store._duplicates import has_trial_with
from service.store._engine import utcnow
from service.store._optuna_tables import add_study_attrs, create_optuna_study
from service.store._records import ACTIVE_STATUSES, StudyRecord, record_from_row
from service.store._retry import retry_transient
from service.store._tables import claims, retry_links, studies, study_counters
from service.trial_attrs import ATTR_SOURCE

if TYPE_CHECKING:  # read, not imported: the store does not depend on tuning or tasks
    from service.tasks import Baseline
    from service.tuning import ResolvedStudy

__all__ = ["Lifecycle"]

log = logging.getLogger(__name__)

# The system attribute in which ``Study.set_metric_names`` keeps the names (Optuna 5).
_METRIC_NAMES_ATTR = "study:metric_names"


class Lifecycle(StoreBase):
    """The lifecycle part of ``StudyStore``."""

    def create(self, resolved: ResolvedStudy, *, owner_key_id: int | None = None) -> StudyRecord:
        """Create the Optuna study and our row together; on any failure neither remains.

        Nothing is checked here beyond the name: ``service.studies.submit_study`` checks
        limits and quota first.
        """
        with self.writing():  # Optuna's study and our row, one take of the lock
            return self._create(resolved, owner_key_id)

    def _create(self, resolved: ResolvedStudy, owner_key_id: int | None) -> StudyRecord:
        source = resolved.spec
        spec = resolved.stored_spec()
        task = spec["task"]
        label = task.get("name") or f"dataset-{task.get('dataset')}"
        study_name = source.name or f"{label}-{uuid.uuid4().hex[:8]}"
        spec = {**spec, "name": study_name}
        timeout_s = source.budget.timeout_s
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                # One transaction for Optuna's study, its attributes and our rows: through
                # Optuna's API, the study and each attribute took their own (most of a
                # submit's time, measured), and a failure between them left a study to delete.
                study_id = create_optuna_study(conn, study_name, resolved.directions)
                add_study_attrs(conn, study_id, user=_user_attrs(resolved),
                                system=_metric_names(resolved, spec))
                created = conn.execute(insert(studies).values(
                    id=study_id,
                    name=study_name,
                    status="queued",
                    spec=spec,
                    # The selection step's re-runs are part of the budget: the search runs
                    # the rest.
                    n_trials=resolved.search_trials,
                    claimed=0,
                    in_flight=0,
                    priority=source.priority,
                    max_parallel=source.max_parallel,
                    owner_key_id=owner_key_id,
                    baseline=None if resolved.baseline is None else _baseline_row(
                        resolved.baseline),
                    baselines=[_baseline_row(b) for b in resolved.baselines],
                    timeout_s=timeout_s,
                    deadline=now + timedelta(seconds=timeout_s) if timeout_s else None,
                    created_at=now,
                ).returning(*studies.c)).one()  # the row as stored, without a second read
                conn.execute(insert(study_counters).values(
                    study_id=study_id, maximize=resolved.directions[0] == "maximize",
                    running=0, waiting=0, complete=0, pruned=0, fail=0, retried=0))
        except IntegrityError:  # the name, in Optuna's table or ours
            raise ConflictError(f"a study named {study_name!r} already exists") from None
        return record_from_row(created._mapping)

    def enqueue(self, record: StudyRecord, params: dict[str, Any], *, source: str) -> None:
        """Queue a configuration as the study's next trial (workers take queued ones first),
        unless a trial of it exists already."""
        # Checked over plain rows: Optuna's own check builds every trial of the study.
        with self.engine.connect() as conn:
            if has_trial_with(conn, record.id, params):
                return
        study = self.load_study(record)
        with self.writing():
            study.enqueue_trial(params, user_attrs={ATTR_SOURCE: source}, skip_if_exists=False)

    def cancel(self, study_id: int) -> StudyRecord:
        """Stop handing out trials; trials already running finish normally."""
        stopped = self._stop(study_id, "cancelled", "cancelled by request")
        if stopped is None:
            record = self.get(study_id)  # raises NotFoundError
            raise ConflictError(f"study {study_id} is already {record.status}; nothing to cancel")
        self._drop_checkpoints_of_stopped(study_id)
        return stopped

    def fail_study(self, study_id: int, reason: str) -> None:
        """Mark a study that cannot run at all as failed, with the reason."""
        if self._stop(study_id, "failed", reason[:256]) is not None:
            self._drop_checkpoints_of_stopped(study_id)

    @retry_transient
    def _stop(self, study_id: int, status: str, reason: str) -> StudyRecord | None:
        """The one-statement move out of the active states: the study as moved, or None when
        it was not active."""
        with self.writing(), self.engine.begin() as conn:
            row = conn.execute(
                update(studies)
                .where(studies.c.id == study_id, studies.c.status.in_(ACTIVE_STATUSES))
                .values(status=status, stop_reason=reason, completed_at=utcnow())
                .returning(*studies.c)
            ).first()
        return None if row is None else record_from_row(row._mapping)

    def _drop_checkpoints_of_stopped(self, study_id: int) -> None:
        # No trial of it will be resumed. Apart from the move: retried together, a fault here
        # would re-run the committed move (a cancel would answer "already cancelled", a failed
        # study's worker would raise). Whatever a lasting fault leaves, the sweep's collection
        # deletes (the study is no longer active).
        try:
            if self.checkpoints.any_of(study_id):  # most stopped studies have none
                self._delete_checkpoints(study_id)
        except TransientError as error:
            log.warning("study %d stopped; its checkpoints are left to the sweep: %s",
                        study_id, error)

    @retry_transient
    def _delete_checkpoints(self, study_id: int) -> None:
        with self.writing():
            self.checkpoints.delete_study(study_id)

    def delete(self, study_id: int) -> None:
        """Remove the study, its trials and our row. Workers still on it drop their trial."""
        record = self.get(study_id)
        with self.writing():
            # Optuna's study first: a crash after it leaves our row without a study, which
            # the sweep finds and fails; the other order would leave an Optuna study nobody
            # owns.
            self._delete_optuna_study(record.name)
            with self.engine.begin() as conn:
                conn.execute(delete(studies).where(studies.c.id == study_id))
                conn.execute(delete(claims).where(claims.c.study_id == study_id))
                conn.execute(delete(study_counters).where(study_counters.c.study_id == study_id))
                conn.execute(delete(retry_links).where(retry_links.c.study_id == study_id))
            self.checkpoints.delete_study(study_id)
            self.models.delete(study_id)

    @retry_transient
    def refresh_status(
        self, study_id: int, *, counts: TrialCounts | None = None,
        record: StudyRecord | None = None,
    ) -> StudyRecord:
        """Complete a study whose budget is spent, or whose deadline passed with nothing left.

        ``counts`` and ``record``: the study's trial counts and row when the caller has just
        read them (the move itself is a conditional UPDATE, so a stale row cannot undo one).
        """
        if record is None or record.id != study_id:
            record = self.get(study_id)
        if record.status not in ACTIVE_STATUSES:
            return record
        # From the counters row: this runs after every trial, and counting the trials would
        # make each trial cost O(trials so far).
        if counts is None:
            counts = self.summaries([record])[record.id].counts
        now = utcnow()
        reason: str | None = None
        if counts.finished >= record.n_trials:
            reason = "budget"
        elif record.deadline is not None and now >= record.deadline and counts.running == 0:
            reason = "timeout"
        if reason is None:
            return record
        # A worker evaluates the best configuration on the test split once it completes; with
        # no complete trial, the best stopped one's (nothing at all to go on: skipped).
        evaluation = "pending" if counts.complete or counts.pruned else "skipped"
        with self.writing():
            with self.engine.begin() as conn:
                conn.execute(
                    update(studies)
                    .where(studies.c.id == study_id, studies.c.status.in_(ACTIVE_STATUSES))
                    .values(status="completed", stop_reason=reason, completed_at=now,
                            eval_status=evaluation)
                )
            self.checkpoints.delete_study(study_id)  # abandoned lineages' too
        self._settle_slots(study_id)
        return self.get(study_id)

    def _settle_slots(self, study_id: int) -> None:
        """Set a study's slot counters from its trials as it completes (``StudyStore`` does;
        the sweep repairs only active studies, so what is off then would stay off)."""


def _metric_names(resolved: ResolvedStudy, spec: dict[str, Any]) -> dict[str, Any]:
    """The objectives' names (``val_loss``, ``params``, ...) as ``Study.set_metric_names``
    stores them, so the dashboard and Optuna's own tools show them instead of "Objective 0"."""
    names = [(spec.get("objective") or {}).get("metric"), *spec.get("also_minimize", [])]
    if all(isinstance(n, str) for n in names) and len(names) == len(resolved.directions):
        return {_METRIC_NAMES_ATTR: names}
    return {}


def _user_attrs(resolved: ResolvedStudy) -> dict[str, Any]:
    """What the study was made of, kept on the Optuna study for the dashboard's readers."""
    return {
        "task": resolved.task.name,
        "search_space": resolved.space_name or "inline",
        "objective": resolved.metric,
        "sampler": resolved.spec.sampler.name,
        "pruner": resolved.spec.pruner.name,
    }


def _baseline_row(baseline: Baseline) -> dict[str, Any]:
    """A task's baseline as the study row keeps it, named by the validation metric."""
    return {
        "name": baseline.name, "metric": f"val_{baseline.metric}", "value": baseline.value,
        "description": baseline.description, "test_value": baseline.test_value,
    }
