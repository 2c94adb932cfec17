"""``StudyStore``: the one place that reads and writes the service's tables and Optuna's storage.

It holds the study lifecycle (create, claim a budget slot, refresh status, cancel, delete) and
the stale-trial sweep, so that API and workers share exactly the same rules. It is the central
class of the store package, hence its size.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import optuna
from optuna.trial import FrozenTrial
from sqlalchemy import ColumnElement, Engine, delete, func, insert, or_, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from service.config import Settings
from service.errors import ConflictError, NotFoundError
from service.schemas import TrialCounts
from service.store._checkpoints import CheckpointStore
from service.store._counts import REQUEUE_ATTR
from service.store._datasets import DatasetStore
from service.store._dbtime import ago, ago_params
from service.store._engine import engine_kwargs, make_engine
from service.store._evaluations import EvaluationStore
from service.store._keys import KeyStore
from service.store._migrate import upgrade
from service.store._models import ModelStore
from service.store._retry import is_transient, retry_transient
from service.store._stale import ServiceStorage, fail_stale_trials, requeue
from service.store._summary import TrialSummary, summarize
from service.store._tables import claims, studies
from service.store._trial_rows import load_trials

__all__ = ["ACTIVE_STATUSES", "Claim", "StudyRecord", "StudyStore", "requeue", "utcnow"]

log = logging.getLogger(__name__)

ACTIVE_STATUSES = ("queued", "running")
_INIT_ATTEMPTS = 5
_MAX_INIT_DELAY_S = 10.0


def utcnow() -> datetime:
    """Naive UTC, the convention of Optuna 5's tables."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class StudyRecord:
    id: int
    name: str
    status: str
    stop_reason: str | None
    spec: dict[str, Any]
    n_trials: int
    claimed: int
    in_flight: int
    priority: int
    max_parallel: int | None
    baseline: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    deadline: datetime | None
    last_claim_at: datetime | None
    owner_key_id: int | None = None
    baselines: list[dict[str, Any]] | None = None
    eval_status: str | None = None
    evaluation: dict[str, Any] | None = None


@dataclass(frozen=True)
class Claim:
    """A budget slot granted to a worker: it may start exactly one trial of the study, once
    the trial redeems the claim (``StudyStore.redeem``)."""

    study: StudyRecord
    slot: int
    claim_id: int | None = None


class StudyStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None
        self._optuna: ServiceStorage | None = None
        self._checkpoints: CheckpointStore | None = None
        self._keys: KeyStore | None = None
        self._datasets: DatasetStore | None = None
        self._evaluations: EvaluationStore | None = None
        self._models: ModelStore | None = None
        self._empty_orphans: set[str] = set()  # see _reconcile

    # -- connections -------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings)
        return self._engine

    @property
    def keys(self) -> KeyStore:
        if self._keys is None:
            self._keys = KeyStore(self.engine)
        return self._keys

    @retry_transient
    def trials_page(
        self, record: StudyRecord, *, offset: int, limit: int, state: str | None = None
    ) -> tuple[int, list[FrozenTrial], dict[int, int]]:
        """One page of trials by number: (total, trials, {retried number: retry number}).

        Only the page's trials are loaded, so a page costs the same in a study of 10,000.
        """
        where = "study_id = :study" + (" AND state = :state" if state else "")
        values: dict[str, Any] = {"study": record.id, "state": (state or "").upper()}
        with self.engine.connect() as conn:
            total = conn.execute(text(f"SELECT count(*) FROM trials WHERE {where}"),
                                 values).scalar_one()
            ids = conn.execute(text(
                f"SELECT trial_id FROM trials WHERE {where} ORDER BY number "
                "LIMIT :limit OFFSET :offset"), {**values, "limit": limit, "offset": offset}
            ).scalars().all()
            histories = conn.execute(text(
                "SELECT t.number, a.value_json FROM trial_system_attributes a "
                "JOIN trials t ON t.trial_id = a.trial_id "
                "WHERE a.key = 'retry_history' AND t.study_id = :study"), values).all()
            # Plain SQL per table: Optuna's ORM loader costs ~10x more for a page.
            trials = load_trials(conn, ids)
        retried_by = {int(json.loads(history)[-1]): int(number)
                      for number, history in histories if json.loads(history)}
        return int(total), trials, retried_by

    @retry_transient
    def pareto_trials(self, record: StudyRecord) -> list[FrozenTrial]:
        """Optuna's Pareto-optimal feasible trials of a multi-objective study."""
        return list(self.load_study(record).best_trials)

    @retry_transient
    def summaries(self, records: Sequence[StudyRecord]) -> dict[int, TrialSummary]:
        """Trial counts and best trial of each study, aggregated in the database."""
        return summarize(self.engine, [
            (r.id, str(r.spec["objective"]["direction"])) for r in records
        ])

    @retry_transient
    def heartbeat_ages(self) -> list[tuple[int, int, float]]:
        """(study id, trial number, seconds since its last heartbeat) of running trials.

        Reads Optuna's own heartbeat table: the store is the one module that may.
        """
        with self.engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT t.study_id, t.number, h.heartbeat, CURRENT_TIMESTAMP "
                "FROM trial_heartbeats h JOIN trials t ON t.trial_id = h.trial_id "
                "WHERE t.state = 'RUNNING'"
            )).all()
        ages = []
        for study_id, number, beat, now in rows:
            beat_at, now_at = _as_datetime(beat), _as_datetime(now)
            ages.append((int(study_id), int(number), (now_at - beat_at).total_seconds()))
        return ages

    @retry_transient
    def count_active(self, *, owner_key_id: int | None) -> int:
        """Queued or running studies submitted with this key (None: without a key)."""
        owner = (studies.c.owner_key_id.is_(None) if owner_key_id is None
                 else studies.c.owner_key_id == owner_key_id)
        with self.engine.connect() as conn:
            return int(conn.execute(
                select(func.count()).select_from(studies)
                .where(owner, studies.c.status.in_(ACTIVE_STATUSES))
            ).scalar_one())

    @property
    def datasets(self) -> DatasetStore:
        if self._datasets is None:
            self._datasets = DatasetStore(self.engine)
        return self._datasets

    @property
    def evaluations(self) -> EvaluationStore:
        if self._evaluations is None:
            self._evaluations = EvaluationStore(self.engine)
        return self._evaluations

    @property
    def models(self) -> ModelStore:
        """The best model of each evaluated study."""
        if self._models is None:
            self._models = ModelStore(self.engine)
        return self._models

    @property
    def checkpoints(self) -> CheckpointStore:
        if self._checkpoints is None:
            self._checkpoints = CheckpointStore(self.engine)
        return self._checkpoints

    @property
    def optuna_storage(self) -> ServiceStorage:
        if self._optuna is None:
            self._optuna = ServiceStorage(
                self.settings.database_url,
                engine_kwargs=engine_kwargs(self.settings),
                heartbeat_interval=self.settings.heartbeat_interval_s,
                grace_period=self.settings.grace_period_s,
            )
        return self._optuna

    def initialize(self) -> None:
        """Create missing tables (ours and Optuna's). Safe to call from every process.

        Waits for a database that is not up yet (a container starting beside this one), with
        logged, growing pauses, for at most ``settings.db_wait_s`` seconds.
        """
        deadline = time.monotonic() + self.settings.db_wait_s
        delay = 0.5
        for attempt in itertools.count(1):
            try:
                _ = self.optuna_storage  # creates or checks Optuna's own tables
                upgrade(self.engine)
                return
            except (DBAPIError, optuna.exceptions.StorageInternalError) as error:
                self._optuna = None
                if is_transient(error) and time.monotonic() + delay < deadline:
                    reason = str(error).strip().splitlines()[0][:200]
                    log.warning("database not reachable yet (attempt %d): %s; retrying in "
                                "%.1fs", attempt, reason, delay)
                    time.sleep(delay)
                    delay = min(delay * 2, _MAX_INIT_DELAY_S)
                    continue
                # Processes starting together race to create the same tables; the loser
                # finds them there on its next try.
                if attempt >= _INIT_ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        if self._optuna is not None:
            self._optuna.remove_session()
            self._optuna.engine.dispose()

    # -- lifecycle ---------------------------------------------------------------------

    def create(
        self,
        *,
        name: str | None,
        spec: dict[str, Any],
        direction: str | list[str],
        n_trials: int,
        timeout_s: float | None,
        baseline: dict[str, Any] | None,
        user_attrs: dict[str, Any],
        priority: int = 0,
        max_parallel: int | None = None,
        owner_key_id: int | None = None,
        baselines: list[dict[str, Any]] | None = None,
    ) -> StudyRecord:
        """Create the Optuna study and our row together; on any failure neither remains."""
        task = spec["task"]
        label = task.get("name") or f"dataset-{task.get('dataset')}"
        study_name = name or f"{label}-{uuid.uuid4().hex[:8]}"
        spec = {**spec, "name": study_name}
        try:
            study = optuna.create_study(
                study_name=study_name,
                storage=self.optuna_storage,
                directions=[optuna.study.StudyDirection[d.upper()] for d in
                            ([direction] if isinstance(direction, str) else direction)],
            )
        except optuna.exceptions.DuplicatedStudyError:
            raise ConflictError(f"a study named {study_name!r} already exists") from None
        try:
            for key, value in user_attrs.items():
                study.set_user_attr(key, value)
            _name_metrics(study, spec)
            now = utcnow()
            with self.engine.begin() as conn:
                conn.execute(insert(studies).values(
                    id=study._study_id,
                    name=study_name,
                    status="queued",
                    spec=spec,
                    n_trials=n_trials,
                    claimed=0,
                    in_flight=0,
                    priority=priority,
                    max_parallel=max_parallel,
                    owner_key_id=owner_key_id,
                    baseline=baseline,
                    baselines=baselines,
                    timeout_s=timeout_s,
                    deadline=now + timedelta(seconds=timeout_s) if timeout_s else None,
                    created_at=now,
                ))
        except IntegrityError:
            self._delete_optuna_study(study_name)
            raise ConflictError(f"a study named {study_name!r} already exists") from None
        except BaseException:
            self._delete_optuna_study(study_name)
            raise
        return self.get(study._study_id)

    @retry_transient
    def get(self, study_id: int) -> StudyRecord:
        with self.engine.connect() as conn:
            row = conn.execute(select(studies).where(studies.c.id == study_id)).first()
        if row is None:
            raise NotFoundError(f"study {study_id} does not exist")
        return _record(row._mapping)

    @retry_transient
    def list_studies(
        self, *, status: str | None = None, owner_key_id: int | None = None
    ) -> list[StudyRecord]:
        """Studies by id; ``owner_key_id`` keeps those one API key submitted."""
        query = select(studies).order_by(studies.c.id)
        if status is not None:
            query = query.where(studies.c.status == status)
        if owner_key_id is not None:
            query = query.where(studies.c.owner_key_id == owner_key_id)
        with self.engine.connect() as conn:
            return [_record(row._mapping) for row in conn.execute(query)]

    @retry_transient
    def cancel(self, study_id: int) -> StudyRecord:
        """Stop handing out trials; trials already running finish normally."""
        now = utcnow()
        with self.engine.begin() as conn:
            result = conn.execute(
                update(studies)
                .where(studies.c.id == study_id, studies.c.status.in_(ACTIVE_STATUSES))
                .values(status="cancelled", stop_reason="cancelled by request", completed_at=now)
            )
        if result.rowcount == 0:
            record = self.get(study_id)  # raises NotFoundError
            raise ConflictError(f"study {study_id} is already {record.status}; nothing to cancel")
        self.checkpoints.delete_study(study_id)  # no trial of it will be resumed
        return self.get(study_id)

    @retry_transient
    def fail_study(self, study_id: int, reason: str) -> None:
        """Mark a study that cannot run at all as failed, with the reason."""
        with self.engine.begin() as conn:
            conn.execute(
                update(studies)
                .where(studies.c.id == study_id, studies.c.status.in_(ACTIVE_STATUSES))
                .values(status="failed", stop_reason=reason[:256], completed_at=utcnow())
            )
        self.checkpoints.delete_study(study_id)

    def delete(self, study_id: int) -> None:
        """Remove the study, its trials and our row. Workers still on it drop their trial."""
        record = self.get(study_id)
        # Optuna's study first: a crash after it leaves our row without a study, which the
        # sweep finds and fails; the other order would leave an Optuna study nobody owns.
        self._delete_optuna_study(record.name)
        with self.engine.begin() as conn:
            conn.execute(delete(studies).where(studies.c.id == study_id))
            conn.execute(delete(claims).where(claims.c.study_id == study_id))
        self.checkpoints.delete_study(study_id)
        self.models.delete(study_id)

    def _delete_optuna_study(self, name: str) -> None:
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=name, storage=self.optuna_storage)

    # -- work distribution -------------------------------------------------------------

    @retry_transient
    def claim(self) -> Claim | None:
        """Claim one budget slot of the least recently served active study, if any."""
        now = utcnow()
        with self.engine.connect() as conn:
            candidates = conn.execute(
                select(studies.c.id)
                .where(*_claimable(now))
                # Higher priority first; within a priority, round robin: the study that has
                # waited longest for a trial goes first.
                .order_by(studies.c.priority.desc(), studies.c.last_claim_at.is_not(None),
                          studies.c.last_claim_at, studies.c.id)
            ).scalars().all()
        for study_id in candidates:
            claim = self._try_claim(study_id, now)
            if claim is not None:
                return claim
        return None

    def _try_claim(self, study_id: int, now: datetime) -> Claim | None:
        # One conditional UPDATE: atomic on SQLite and PostgreSQL alike, so two workers can
        # never take the last slot twice.
        with self.engine.begin() as conn:
            row = conn.execute(
                update(studies)
                .where(studies.c.id == study_id, *_claimable(now))
                .values(
                    claimed=studies.c.claimed + 1,
                    in_flight=studies.c.in_flight + 1,
                    last_claim_at=now,
                    status="running",
                    started_at=func.coalesce(studies.c.started_at, now),
                )
                .returning(*studies.c)
            ).first()
            if row is None:
                return None
            # Stamped with the database's clock: the repair compares it there (see sweep).
            claim_id = conn.execute(
                insert(claims).values(study_id=study_id, claimed_at=text("CURRENT_TIMESTAMP"))
                .returning(claims.c.id)
            ).scalar_one()
        record = _record(row._mapping)
        return Claim(study=record, slot=record.claimed - 1, claim_id=int(claim_id))

    @retry_transient
    def redeem(self, claim: Claim) -> bool:
        """Turn the claim into the trial that has just started under it. False when the claim
        is older than the grace period: the sweep may have given its slot to another worker,
        so this trial must not count (the caller hands it back)."""
        if claim.claim_id is None:
            return True
        with self.engine.begin() as conn:
            return conn.execute(
                text(f"DELETE FROM {claims.name} WHERE id = :id AND claimed_at >= {ago(conn)}"),
                {"id": claim.claim_id, **ago_params(self.settings.grace_period_s)},
            ).rowcount == 1

    @retry_transient
    def free_slot(self, study_name: str) -> None:
        """Give one slot back (its trial failed under a dead worker and will be retried)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(studies)
                .where(studies.c.name == study_name, studies.c.claimed > 0)
                .values(claimed=studies.c.claimed - 1)
            )

    def enqueue(self, record: StudyRecord, params: dict[str, Any], *, source: str) -> None:
        """Queue a configuration as the study's next trial (workers take queued ones first)."""
        study = self.load_study(record)
        study.enqueue_trial(params, user_attrs={"source": source}, skip_if_exists=True)

    def fail_stale_trials(self, study: optuna.Study) -> list[int]:
        """Fail the study's trials of dead workers and re-queue them (retries permitting)."""
        return fail_stale_trials(study, self.optuna_storage,
                                 max_retry=self.settings.max_trial_retries,
                                 free_slot=self.free_slot)

    @retry_transient
    def mark_requeue(self, study_id: int, trial_number: int) -> None:
        """Mark a running trial that is about to fail as one to re-run (see ``_stale``)."""
        storage = self.optuna_storage
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial_number)
        storage.set_trial_system_attr(trial_id, REQUEUE_ATTR, True)

    def hand_back(self, study: optuna.Study, trial_number: int, *, free_slot: bool = True) -> None:
        """Give an interrupted trial (already FAIL) back to the queue for another worker.

        ``free_slot=False`` when its slot is no longer held (its claim expired).
        """
        trial = study.trials[trial_number]
        requeue(study, trial, handback=True)
        if free_slot:
            self.free_slot(study.study_name)

    @retry_transient
    def trial_ended(self, study_id: int) -> None:
        """The worker holding a slot of this study is done with its trial."""
        with self.engine.begin() as conn:
            conn.execute(
                update(studies)
                .where(studies.c.id == study_id, studies.c.in_flight > 0)
                .values(in_flight=studies.c.in_flight - 1)
            )

    def load_study(
        self,
        record: StudyRecord,
        *,
        sampler: optuna.samplers.BaseSampler | None = None,
        pruner: optuna.pruners.BasePruner | None = None,
    ) -> optuna.Study:
        return optuna.load_study(
            study_name=record.name, storage=self.optuna_storage, sampler=sampler, pruner=pruner
        )

    @retry_transient
    def trials(self, record: StudyRecord) -> list[FrozenTrial]:
        return self.optuna_storage.get_all_trials(record.id, deepcopy=False)

    # -- status ------------------------------------------------------------------------

    @retry_transient
    def refresh_status(self, study_id: int, *, counts: TrialCounts | None = None) -> StudyRecord:
        """Complete a study whose budget is spent, or whose deadline passed with nothing left.

        ``counts``: the study's trial counts when the caller has just aggregated them.
        """
        record = self.get(study_id)
        if record.status not in ACTIVE_STATUSES:
            return record
        # Aggregated in SQL: this runs after every trial, and loading every trial would make
        # each trial cost O(trials so far).
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
        # A worker evaluates the best configuration on the test split once it completes.
        evaluation = "pending" if counts.complete else "skipped"
        with self.engine.begin() as conn:
            conn.execute(
                update(studies)
                .where(studies.c.id == study_id, studies.c.status.in_(ACTIVE_STATUSES))
                .values(status="completed", stop_reason=reason, completed_at=now,
                        eval_status=evaluation)
            )
        self.checkpoints.delete_study(study_id)  # abandoned lineages' too
        return self.get(study_id)

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
        for record in self.list_studies():
            if record.status not in ACTIVE_STATUSES:
                continue
            try:
                self.fail_stale_trials(self.load_study(record))
            except KeyError:
                continue  # deleted meanwhile
            try:
                counts = self._repair_slots(record.id)
            except NotFoundError:
                continue
            self.refresh_status(record.id, counts=counts)

    def owns(self, study_id: int) -> bool:
        """Whether the Optuna study with this id is one of the service's studies."""
        with self.engine.connect() as conn:
            return conn.execute(select(studies.c.id).where(studies.c.id == study_id)).first() \
                is not None

    def _reconcile(self) -> None:
        """Our rows and Optuna's studies must agree. An active study whose Optuna study is
        gone (deleted or renamed outside the service: a renamed study is a copy under a new
        id) is failed, or workers would claim it for ever. An Optuna study without a row and
        without trials, seen so on two sweeps in a row, was left by a create that crashed
        before its row was written, and is deleted; others may be a user's own, and stay."""
        with self.engine.connect() as conn:
            lost = conn.execute(text(
                f"SELECT s.id FROM {studies.name} s LEFT JOIN studies o "
                "ON o.study_id = s.id AND o.study_name = s.name "
                "WHERE o.study_id IS NULL AND s.status IN ('queued', 'running')")).scalars().all()
            empty = set(conn.execute(text(
                f"SELECT o.study_name FROM studies o LEFT JOIN {studies.name} s "
                "ON s.id = o.study_id WHERE s.id IS NULL AND NOT EXISTS "
                "(SELECT 1 FROM trials t WHERE t.study_id = o.study_id)")).scalars().all())
        for study_id in lost:
            log.warning("study %s: its Optuna study was deleted or renamed outside the "
                        "service; failing it", study_id)
            self.fail_study(study_id, "its Optuna study was deleted or renamed outside the "
                            "service")
            self.checkpoints.delete_study(study_id)
        for name in empty & self._empty_orphans:
            log.info("deleting Optuna study %s, left without a service row", name)
            self._delete_optuna_study(name)
        self._empty_orphans = empty - self._empty_orphans

    def _end_trials_of_stopped_studies(self) -> None:
        """Trials of dead workers in a cancelled, failed or completed study: no retry will
        run, but they must not stay RUNNING for ever."""
        with self.engine.connect() as conn:
            stopped = conn.execute(text(
                f"SELECT s.id FROM {studies.name} s "
                "WHERE s.status NOT IN ('queued', 'running') AND EXISTS (SELECT 1 FROM trials t "
                "WHERE t.study_id = s.id AND t.state = 'RUNNING')")).scalars().all()
        for study_id in stopped:
            with contextlib.suppress(KeyError, NotFoundError):
                fail_stale_trials(self.load_study(self.get(study_id)), self.optuna_storage,
                                  max_retry=0, free_slot=lambda _: None)

    def _repair_slots(self, study_id: int) -> TrialCounts:
        """Set the slot counters from the truth: trials that count plus live claims.

        A worker that died between claiming a slot and starting its trial (or between ending
        it and saying so) leaves the counters off. Claims older than the grace period (by the
        database's clock) are dropped; their workers, if alive, find them gone and give
        their trials back. Read in this order (claims, then trials) a trial that redeems its
        claim meanwhile is counted twice, never zero times: too few slots, never too many.
        """
        record = self.get(study_id)
        grace = ago_params(self.settings.grace_period_s)
        with self.engine.connect() as conn:
            pending = int(conn.execute(
                text(f"SELECT count(*) FROM {claims.name} "
                     f"WHERE study_id = :study AND claimed_at >= {ago(conn)}"),
                {"study": study_id, **grace}).scalar_one())
        # Aggregated in SQL: loading every trial of a large study here stalled the API
        # server's requests for about a second on every sweep.
        counts = self.summaries([record])[record.id].counts
        # Slots in use: every trial but waiting ones and failures that were retried.
        target = (counts.finished + counts.running + pending, counts.running + pending)
        if (record.claimed, record.in_flight) == target:
            return counts
        with self.engine.connect() as conn:
            transaction = conn.begin()
            conn.execute(text(f"DELETE FROM {claims.name} "
                              f"WHERE study_id = :study AND claimed_at < {ago(conn)}"),
                         {"study": study_id, **grace})
            moved = conn.execute(
                update(studies)
                .where(studies.c.id == study_id, studies.c.claimed == record.claimed,
                       studies.c.in_flight == record.in_flight)
                .values(claimed=target[0], in_flight=target[1])
            ).rowcount
            if moved != 1:
                transaction.rollback()  # a claim came meanwhile: repair on the next sweep
                return counts
            transaction.commit()
        log.info("study %s: slots %d -> %d, in flight %d -> %d", study_id,
                 record.claimed, target[0], record.in_flight, target[1])
        return counts


def _name_metrics(study: optuna.Study, spec: dict[str, Any]) -> None:
    """Name the objectives (``val_loss``, ``params``, ...), so the dashboard and Optuna's own
    tools show them instead of "Objective 0"."""
    names = [(spec.get("objective") or {}).get("metric"), *spec.get("also_minimize", [])]
    if all(isinstance(n, str) for n in names) and len(names) == len(study.directions):
        with warnings.catch_warnings():  # experimental in Optuna 5, and what we need
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)


def _as_datetime(value: Any) -> datetime:
    # SQLite returns timestamps as text, PostgreSQL as (possibly aware) datetimes.
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=None)


def _claimable(now: datetime) -> list[ColumnElement[bool]]:
    return [
        studies.c.status.in_(ACTIVE_STATUSES),
        studies.c.claimed < studies.c.n_trials,
        or_(studies.c.deadline.is_(None), studies.c.deadline > now),
        or_(studies.c.max_parallel.is_(None), studies.c.in_flight < studies.c.max_parallel),
    ]


def _record(row: Any) -> StudyRecord:
    return StudyRecord(
        id=row["id"],
        name=row["name"],
        status=row["status"],
        stop_reason=row["stop_reason"],
        spec=row["spec"],
        n_trials=row["n_trials"],
        claimed=row["claimed"],
        in_flight=row["in_flight"],
        priority=row["priority"],
        max_parallel=row["max_parallel"],
        baseline=row["baseline"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        deadline=row["deadline"],
        last_claim_at=row["last_claim_at"],
        owner_key_id=row["owner_key_id"],
        baselines=row["baselines"],
        eval_status=row["eval_status"],
        evaluation=row["evaluation"],
    )
