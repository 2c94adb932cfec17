"""``ServiceStorage``: Optuna's RDB storage with trial state moves that cannot race.

Every move of a trial out of RUNNING is one conditional UPDATE (``WHERE state = 'RUNNING'``),
so a worker's COMPLETE and another process's stale FAIL can never both land: whichever commits
first wins and the other is told the trial is already finished. A trial gets its first
heartbeat when it starts, and staleness is judged with the database's clock in the statement
that fails the trial, so neither a missing heartbeat row nor clock skew between hosts can
leave a dead worker's trial RUNNING for ever or fail a live one.

Every move also updates the study's counters row in its own transaction (``_counters``): a
trial created (``ask``, a re-queue, an enqueue), started, finished (``tell``), failed as
stale, or marked for re-run. Moves made through Optuna's API by another program on the same
database are not seen; ``_recount.repair`` rebuilds the row then.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Container, Sequence
from datetime import datetime
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import DateTime, bindparam, or_, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service.store import _counters, _trial_rows
from service.store._counts import REQUEUE_ATTR
from service.store._dbtime import ago, ago_params
from service.store._retry import retry_transient

__all__ = ["ServiceStorage"]

log = logging.getLogger(__name__)

# A beat of the same trial this soon after the last one is skipped (see record_heartbeat);
# far below any heartbeat interval, which is whole seconds.
_RECENT_BEAT_S = 0.5

_trials = models.TrialModel.__table__
_studies = models.StudyModel.__table__

# What ``rnntune_create_trial`` raises for a study that does not exist.
_NO_DATA_FOUND = "P0002"

# A RUNNING trial is stale once its last heartbeat (or, before its first one was written, its
# start) is older than the grace period by the database's own clock.
_STALE = (
    "t.state = 'RUNNING' AND ("
    " EXISTS (SELECT 1 FROM trial_heartbeats h WHERE h.trial_id = t.trial_id"
    "         AND h.heartbeat < {cutoff})"
    " OR (NOT EXISTS (SELECT 1 FROM trial_heartbeats h WHERE h.trial_id = t.trial_id)"
    "     AND t.datetime_start < {cutoff}))"
)


class ServiceStorage(RDBStorage):
    """Optuna's RDB storage with a heartbeat that outlives database hiccups, conditional
    trial state moves, and without Optuna's own stale-trial pass (``fail_stale_trials``
    replaces it)."""

    # -- reads -------------------------------------------------------------------------

    def _get_trials(
        self,
        study_id: int,
        states: Container[TrialState] | None,
        included_trial_ids: set[int],
        trial_id_greater_than: int,
    ) -> list[FrozenTrial]:
        # Optuna's cached storage calls this on every ``ask`` for every trial unfinished at
        # the last one plus every newer trial: with 64 workers about 60 trials a call, and
        # 14-26% of a worker's time went to building ORM objects for their rows. The same
        # rows, read with plain SQL (``load_trials``), make the same ``FrozenTrial`` objects.
        included = {i for i in included_trial_ids if i <= trial_id_greater_than}
        query = select(_trials.c.trial_id).where(_trials.c.study_id == study_id)
        if states is not None:
            query = query.where(_trials.c.state.in_(list(states)))  # type: ignore[call-overload]
        if trial_id_greater_than > -1 and len(included) <= _trial_rows.IDS_PER_QUERY:
            newer = _trials.c.trial_id > trial_id_greater_than
            query = query.where(or_(_trials.c.trial_id.in_(sorted(included)), newer)
                                if included else newer)
        with self.engine.connect() as conn:
            trial_ids = [i for i in conn.execute(query).scalars()
                         if i > trial_id_greater_than or i in included]
            if not trial_ids:
                if conn.execute(select(_studies.c.study_id).where(
                        _studies.c.study_id == study_id)).first() is None:
                    raise KeyError(f"No study with study_id {study_id} exists.")
                return []
            trials = _trial_rows.load_trials(conn, trial_ids)
        return sorted(trials, key=lambda t: t._trial_id)  # Optuna's order

    def has_waiting_trial(self, study_id: int) -> bool:
        """Whether the study has a WAITING trial (an enqueued configuration or a re-run)."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(_trials.c.trial_id)
                .where(_trials.c.study_id == study_id, _trials.c.state == TrialState.WAITING)
                .limit(1)
            ).first() is not None

    # -- heartbeats --------------------------------------------------------------------

    # The trial last beaten by this process, and when (monotonic seconds).
    _last_beat: tuple[int, float] = (-1, 0.0)

    def record_heartbeat(self, trial_id: int) -> None:
        # Optuna's heartbeat thread beats the moment the trial starts, when the trial has
        # just had its first beat (``_create_new_trial``) and the worker's own first writes
        # run: the two met on the worker's one pooled connection at every trial start and
        # opened a second one, a new server process each time. Skip a beat that soon.
        beaten, at = self._last_beat
        if beaten == trial_id and time.monotonic() - at < _RECENT_BEAT_S:
            return
        # Optuna's heartbeat thread ends at its first exception, and a live trial whose
        # heartbeat stopped is failed as stale once the grace period is over. A database
        # restart must cost a missed beat, not the trial.
        try:
            super().record_heartbeat(trial_id)
        except Exception as error:
            log.warning("heartbeat of trial %d not recorded: %s", trial_id, error)
        else:
            self._last_beat = (trial_id, time.monotonic())

    def _create_new_trial(
        self, study_id: int, template_trial: FrozenTrial | None = None
    ) -> FrozenTrial:
        # Both ``create_new_trial`` and Optuna's cached storage come through here.
        if template_trial is None and self.engine.dialect.name == "postgresql":
            trial = self._create_running_trial(study_id)
        else:
            trial = super()._create_new_trial(study_id, template_trial)
        if trial.state == TrialState.RUNNING:
            # Optuna's heartbeat thread writes its first beat only after ``ask``: a worker
            # killed in between would leave a trial without any. Beat at once.
            self.record_heartbeat(trial._trial_id)
        return trial

    def _create_running_trial(self, study_id: int) -> FrozenTrial:
        """A new RUNNING trial in one statement outside any transaction, so the study's row
        lock that numbers it is held inside the server only (migration 0008)."""
        start = datetime.now()  # Optuna's convention: the local clock, naive
        try:
            with self.engine.connect() as conn:
                row = conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("SELECT new_trial_id, new_number FROM rnntune_create_trial("
                         ":study, :start)"),
                    {"study": study_id, "start": start}).one()
        except SQLAlchemyError as error:
            if getattr(getattr(error, "orig", None), "sqlstate", None) == _NO_DATA_FOUND:
                raise KeyError(f"No study with study_id {study_id} exists.") from error
            # What Optuna's own path raises for a failed statement.
            raise optuna.exceptions.StorageInternalError(
                f"creating a trial of study {study_id} failed: {error}") from error
        return FrozenTrial(number=int(row.new_number), state=TrialState.RUNNING, value=None,
                           values=None, datetime_start=start, datetime_complete=None,
                           params={}, distributions={}, user_attrs={}, system_attrs={},
                           intermediate_values={}, trial_id=int(row.new_trial_id))

    def _get_prepared_new_trial(
        self, study_id: int, template_trial: FrozenTrial | None, session: Session
    ) -> models.TrialModel:
        # Inside Optuna's transaction that creates the trial: the counters move with it.
        if template_trial is None:
            trial = _new_running_trial(study_id, session)
        else:
            trial = super()._get_prepared_new_trial(study_id, template_trial, session)
        session.flush()
        _counters.created(
            session.connection(), study_id=study_id, trial_id=int(trial.trial_id),
            number=int(trial.number), state=TrialState[str(trial.state.name)],
            values=None if template_trial is None else template_trial.values,
            system_attrs={} if template_trial is None else template_trial.system_attrs)
        return trial

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        if key != REQUEUE_ATTR or not value:
            super().set_trial_system_attr(trial_id, key, value)
            return
        # A mark for re-run takes the trial out of the budget's count: with the counters.
        with _create_scoped_session(self.scoped_session, True) as session:
            conn = session.connection()
            study_id, number = _study_and_number(conn, trial_id)
            # The counters row before the attribute, as a stale fail takes them: the other
            # order could deadlock with it on PostgreSQL.
            _counters.lock(conn, study_id)
            self._set_trial_attr_without_commit(
                session, models.TrialSystemAttributeModel, trial_id, key, value)
            _counters.marked(conn, study_id=study_id, number=number)

    def _grace_params(self) -> dict[str, Any]:
        return ago_params(self.grace_period or 2 * (self.heartbeat_interval or 1))

    def stale_trial_ids(self, study_id: int) -> list[int]:
        """Running trials of the study whose heartbeat (or start, before the first beat) is
        older than the grace period."""
        with self.engine.connect() as conn:
            condition = _STALE.format(cutoff=ago(conn))
            # Sorted here, not by SQL: an ORDER BY trial_id makes SQLite walk the study's
            # every trial by its study_id index instead of the few RUNNING ones by the
            # (study, state, number) index, a cost that grew with the study on every claim.
            return sorted(int(i) for i in conn.execute(
                text(f"SELECT t.trial_id FROM trials t WHERE t.study_id = :study AND "
                     f"{condition}"),
                {"study": study_id, **self._grace_params()},
            ).scalars())

    def stale_study_ids(self) -> list[int]:
        """Queued or running service studies with at least one stale trial."""
        with self.engine.connect() as conn:
            condition = _STALE.format(cutoff=ago(conn))
            return [int(i) for i in conn.execute(
                text(f"SELECT DISTINCT t.study_id FROM trials t JOIN rnntune_studies s "
                     f"ON s.id = t.study_id WHERE s.status IN ('queued', 'running') AND "
                     f"{condition} ORDER BY t.study_id"),
                self._grace_params(),
            ).scalars()]

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        # Called by Optuna inside ``optimize``, where a stale trial would be failed before
        # being marked for its retry. The service runs ``fail_stale_trials`` itself.
        return []

    def fail_if_stale(self, trial_id: int, *, requeue_attr: str | None) -> bool:
        """Fail the trial if it is still RUNNING and still stale, re-checked in the same
        statement; with ``requeue_attr`` mark it for its retry in the same transaction (the
        budget never counts a marked failure). True when this call failed it."""
        with self.engine.begin() as conn:
            condition = _STALE.format(cutoff=ago(conn))
            row = conn.execute(
                # ``state`` on the target row itself: PostgreSQL re-checks that after waiting
                # on a concurrent failer's row lock; a subquery's view would be stale.
                text(f"UPDATE trials SET state = 'FAIL', datetime_complete = :now "
                     f"WHERE trial_id = :id AND state = 'RUNNING' AND trial_id IN ("
                     f"SELECT t.trial_id FROM trials t WHERE t.trial_id = :id AND {condition}) "
                     "RETURNING study_id, number")
                .bindparams(bindparam("now", type_=DateTime())),
                {"id": trial_id, "now": datetime.now(), **self._grace_params()},
            ).first()
            if row is None:
                return False
            study_id, number = int(row[0]), int(row[1])
            _counters.moved(conn, study_id=study_id, trial_id=trial_id, number=number,
                            old=TrialState.RUNNING, new=TrialState.FAIL)
            if requeue_attr is not None:
                _set_system_attr(conn, trial_id, requeue_attr, True)
                if requeue_attr == REQUEUE_ATTR:
                    _counters.marked(conn, study_id=study_id, number=number)
        return True

    # -- per-epoch writes: idempotent, so retried through a database hiccup ------------

    @retry_transient
    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        super().set_trial_user_attr(trial_id, key, value)

    @retry_transient
    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        super().set_trial_intermediate_value(trial_id, step, intermediate_value)

    # -- state moves -------------------------------------------------------------------

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        # Optuna reads the state and then writes it; on SQLite the read runs outside the
        # write's transaction, so two processes could both start one WAITING trial, or a
        # worker could complete a trial another process has just failed as stale (and
        # re-queued): both would count. One conditional UPDATE cannot race.
        if state == TrialState.RUNNING:
            return self._start_waiting(trial_id)
        if state.is_finished():
            return self._finish(trial_id, state, values)
        return super().set_trial_state_values(trial_id, state, values)

    def _start_waiting(self, trial_id: int) -> bool:
        with self.engine.begin() as conn:
            row = conn.execute(
                text("UPDATE trials SET state = 'RUNNING', datetime_start = :now "
                     "WHERE trial_id = :id AND state = 'WAITING' RETURNING study_id, number")
                .bindparams(bindparam("now", type_=DateTime())),
                {"now": datetime.now(), "id": trial_id},
            ).first()
            if row is not None:
                _counters.moved(conn, study_id=int(row[0]), trial_id=trial_id,
                                number=int(row[1]), old=TrialState.WAITING,
                                new=TrialState.RUNNING)
                # The first heartbeat goes with the start (see ``create_new_trial``).
                conn.execute(text("DELETE FROM trial_heartbeats WHERE trial_id = :id"),
                             {"id": trial_id})
                conn.execute(text("INSERT INTO trial_heartbeats (trial_id, heartbeat) "
                                  "VALUES (:id, CURRENT_TIMESTAMP)"), {"id": trial_id})
                self._last_beat = (trial_id, time.monotonic())
                return True
        self._raise_if_finished(trial_id)
        return False

    def _finish(self, trial_id: int, state: TrialState, values: Sequence[float] | None) -> bool:
        session = self.scoped_session()
        try:
            row = session.connection().execute(
                text("UPDATE trials SET state = :state, datetime_complete = :now "
                     "WHERE trial_id = :id AND state = 'RUNNING' RETURNING study_id, number")
                .bindparams(bindparam("now", type_=DateTime())),
                {"state": state.name, "now": datetime.now(), "id": trial_id},
            ).first()
            moved = 0 if row is None else 1
            if row is not None:
                for objective, value in enumerate(values or ()):
                    stored, kind = models.TrialValueModel.value_to_stored_repr(value)
                    session.query(models.TrialValueModel).filter_by(
                        trial_id=trial_id, objective=objective).delete()
                    session.add(models.TrialValueModel(
                        trial_id=trial_id, objective=objective, value=stored, value_type=kind))
                # ``tell`` lands here: its counters move in the same transaction, last, so
                # the counters row (which the study's every move waits for) is locked for
                # the commit alone.
                session.flush()
                _counters.moved(session.connection(), study_id=int(row[0]), trial_id=trial_id,
                                number=int(row[1]), old=TrialState.RUNNING, new=state,
                                values=values)
            session.commit()
        except Exception as error:
            session.rollback()
            if isinstance(error, optuna.exceptions.OptunaError):
                raise
            raise optuna.exceptions.StorageInternalError(
                f"trial {trial_id} not moved to {state.name}") from error
        finally:
            self.scoped_session.remove()
        if moved == 1:
            return True
        # Finished elsewhere first (say, failed as stale and already re-queued): this
        # outcome must not count too.
        log.warning("trial %d was no longer running; its %s was not recorded",
                    trial_id, state.name)
        self._raise_if_finished(trial_id)
        return False

    def _raise_if_finished(self, trial_id: int) -> None:
        with self.engine.connect() as conn:
            current = conn.execute(text("SELECT state FROM trials WHERE trial_id = :id"),
                                   {"id": trial_id}).scalar()
        if current is None:
            raise KeyError(f"no trial with id {trial_id}")
        # Raises UpdateFinishedTrialError for a finished trial, as Optuna's own method does.
        self.check_trial_is_updatable(trial_id, TrialState[str(current)])


def _study_and_number(conn: Connection, trial_id: int) -> tuple[int, int]:
    row = conn.execute(text("SELECT study_id, number FROM trials WHERE trial_id = :id"),
                       {"id": trial_id}).one()
    return int(row[0]), int(row[1])


def _set_system_attr(conn: Connection, trial_id: int, key: str, value: Any) -> None:
    conn.execute(text("DELETE FROM trial_system_attributes WHERE trial_id = :id AND key = :key"),
                 {"id": trial_id, "key": key})
    conn.execute(text("INSERT INTO trial_system_attributes (trial_id, key, value_json) "
                      "VALUES (:id, :key, :value)"),
                 {"id": trial_id, "key": key, "value": json.dumps(value)})


def _new_running_trial(study_id: int, session: Session) -> models.TrialModel:
    """A new RUNNING trial numbered after the study's highest number.

    Optuna numbers a trial by counting the study's earlier trials, under the row lock on the
    study that serialises trial creation: a count that walks the whole study on every ``ask``
    while every other worker of the study waits for the lock. Numbers are 0, 1, 2, ... in
    creation order, so the highest plus one is the same number, read from the end of the
    ``(study_id, number)`` index in constant time. The row goes in first, as in Optuna's own
    order: on SQLite the insert is what takes the write lock (its ``FOR UPDATE`` is a no-op),
    so two trials cannot read the same highest number.
    """
    trial = models.TrialModel(study_id=study_id, number=None, state=TrialState.RUNNING,
                              datetime_start=datetime.now())
    session.add(trial)
    session.flush()
    highest = session.execute(
        text("SELECT MAX(number) FROM trials WHERE study_id = :study"), {"study": study_id}
    ).scalar()
    trial.number = 0 if highest is None else int(highest) + 1
    return trial
