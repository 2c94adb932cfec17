"""Handing out work: budget slots claimed by workers, redeemed by their trials, given back.

Every counter move is one conditional UPDATE, atomic on SQLite and PostgreSQL alike; the
sweep repairs what a dead worker leaves off (``repair_slots``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import optuna
from sqlalchemy import (
    Column,
    ColumnElement,
    Update,
    func,
    insert,
    or_,
    select,
    text,
    true,
    update,
)

from service.store._base import StoreBase
from service.store._counts import REQUEUE_ATTR, TrialCounts
from service.store._dbtime import ago, ago_params
from service.store._engine import utcnow
from service.store._records import ACTIVE_STATUSES, Claim, record_from_row
from service.store._retry import retry_transient
from service.store._stale import fail_stale_trials, requeue
from service.store._tables import claims, studies

__all__ = ["Claims"]

log = logging.getLogger(__name__)


class Claims(StoreBase):
    """The work-distribution part of ``StudyStore``."""

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
        take = (update(studies)
                .where(studies.c.id == study_id, *_claimable(now))
                .values(
                    claimed=studies.c.claimed + 1,
                    in_flight=studies.c.in_flight + 1,
                    last_claim_at=now,
                    status="running",
                    started_at=func.coalesce(studies.c.started_at, now),
                ))
        if self.engine.dialect.name == "postgresql":
            return self._take_slot_in_one_statement(take)
        with self.engine.begin() as conn:
            row = conn.execute(take.returning(*studies.c)).first()
            if row is None:
                return None
            # Stamped with the database's clock: the repair compares it there (see sweep).
            claim_id = conn.execute(
                insert(claims).values(study_id=study_id, claimed_at=text("CURRENT_TIMESTAMP"))
                .returning(claims.c.id)
            ).scalar_one()
        return _claim_of(row._mapping, claim_id)

    def _take_slot_in_one_statement(self, take: Update) -> Claim | None:
        """PostgreSQL: the slot and its claim row in one statement outside a transaction, so
        the study's row lock is held inside the server only (every worker of the study takes
        it; a worker waiting for CPU between the statements of a transaction would hold up
        all the others)."""
        taken = take.returning(*studies.c).cte("taken")
        stamped = (insert(claims)
                   .from_select(["study_id", "claimed_at"],
                                select(taken.c.id, text("CURRENT_TIMESTAMP")))
                   .returning(claims.c.id.label("claim_id"))
                   .cte("stamped"))
        with self.engine.connect() as conn:
            row = conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                select(taken, stamped.c.claim_id).select_from(taken.join(stamped, true()))
            ).first()
        return None if row is None else _claim_of(row._mapping, row.claim_id)

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

    def fail_stale_trials(self, study: optuna.Study) -> list[int]:
        """Fail the study's trials of dead workers and re-queue them (retries permitting).

        A re-queued trial's slot is given back by setting the slots from the truth
        (``repair_slots``), not by taking one off: a sweep's repair that runs between the
        trial's failure and the give-back has already stopped counting it, and taking one
        more would hand out a slot beyond the budget."""
        return fail_stale_trials(study, self.optuna_storage,
                                 max_retry=self.settings.max_trial_retries,
                                 free_slot=lambda _: self.repair_slots(study._study_id))

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
        if free_slot:  # from the truth, as for a stale trial (see fail_stale_trials)
            self.repair_slots(study._study_id)

    @retry_transient
    def trial_ended(self, study_id: int) -> None:
        """The worker holding a slot of this study is done with its trial."""
        self._take_one(studies.c.in_flight, studies.c.id == study_id)

    def _take_one(self, counter: Column[int], which: ColumnElement[bool]) -> None:
        # Never below zero: a repair may have set the counter from the truth meanwhile.
        with self.engine.begin() as conn:
            conn.execute(update(studies).where(which, counter > 0)
                         .values({counter.name: counter - 1}))

    @retry_transient
    def repair_slots(self, study_id: int) -> TrialCounts:
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


def _claim_of(row: Any, claim_id: int) -> Claim:
    record = record_from_row(row)
    return Claim(study=record, slot=record.claimed - 1, claim_id=int(claim_id))


def _claimable(now: datetime) -> list[ColumnElement[bool]]:
    return [
        studies.c.status.in_(ACTIVE_STATUSES),
        studies.c.claimed < studies.c.n_trials,
        or_(studies.c.deadline.is_(None), studies.c.deadline > now),
        or_(studies.c.max_parallel.is_(None), studies.c.in_flight < studies.c.max_parallel),
    ]
