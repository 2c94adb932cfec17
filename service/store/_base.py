"""``StoreBase``: the connections of a store and the reads its parts share."""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from functools import cached_property
from typing import Any

import optuna
from optuna.trial import FrozenTrial
from sqlalchemy import JSON, Engine, Select, Text, cast, func, select
from sqlalchemy.exc import DBAPIError

from service.config import Settings
from service.errors import NotFoundError
from service.store._cached import ServiceCachedStorage
from service.store._checkpoints import CheckpointStore
from service.store._datasets import DatasetStore
from service.store._engine import engine_kwargs, make_engine
from service.store._evaluations import EvaluationStore
from service.store._keys import KeyStore
from service.store._migrate import upgrade
from service.store._models import ModelStore
from service.store._records import ACTIVE_STATUSES, StudyRecord, StudyRow, record_from_row
from service.store._recount import missing_studies, repair
from service.store._retry import is_transient, retry_transient
from service.store._stale import ServiceStorage
from service.store._summary import TrialSummary, summarize
from service.store._tables import studies
from service.store._write_lock import SqliteWriteLock

__all__ = ["StoreBase"]

log = logging.getLogger(__name__)

# The studies table's columns with the JSON ones read as text (see ``StudyRow``).
_JSON_COLUMNS = frozenset(c.name for c in studies.c if isinstance(c.type, JSON))
_COLUMN_NAMES = tuple(c.name for c in studies.c)
_UNDECODED_COLUMNS = [cast(c, Text).label(c.name) if c.name in _JSON_COLUMNS else c
                      for c in studies.c]

_INIT_ATTEMPTS = 5
_MAX_INIT_DELAY_S = 10.0


def refuse_another_optuna_schema(storage: ServiceStorage) -> None:
    """Refuse a database whose Optuna tables another Optuna version laid out, as Optuna's own
    check does (its message), reading the version on one connection."""
    current, head = storage.get_current_version(), storage.get_head_version()
    if current == head:
        return
    advice = ("run `optuna storage upgrade --storage $STORAGE_URL`"
              if current in storage.get_all_versions() else "update optuna")
    raise RuntimeError(f"the runtime optuna version {optuna.__version__} is not compatible "
                       f"with the table schema of this database ({current}, expected {head}): "
                       f"{advice}")


class StoreBase:
    """Engines and sub-stores, each made on first use (nothing connects at construction)."""

    # A process that reaches the database through a transaction pooler may skip the check
    # of Optuna's schema version (see worker._store).
    check_optuna_schema: bool = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._writes: AbstractContextManager[Any] = (
            SqliteWriteLock(settings.sqlite_file) if settings.is_sqlite
            else contextlib.nullcontext())

    def writing(self) -> AbstractContextManager[Any]:
        """Hold around a write transaction: on SQLite, one of the service's writers at a
        time (re-entrant; see ``SqliteWriteLock``); elsewhere nothing."""
        return self._writes

    # -- connections -------------------------------------------------------------------

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings)

    def _optuna_engine_kwargs(self) -> dict[str, Any]:
        return engine_kwargs(self.settings)

    @cached_property
    def optuna_storage(self) -> ServiceStorage:
        storage = ServiceStorage(
            self.settings.database_url,
            engine_kwargs=self._optuna_engine_kwargs(),
            heartbeat_interval=self.settings.heartbeat_interval_s,
            grace_period=self.settings.grace_period_s,
            # Optuna's own check holds a connection while it opens a second: 64 workers
            # starting together would ask for 128. The same check on one connection:
            skip_compatibility_check=True,
        )
        if self.check_optuna_schema:
            refuse_another_optuna_schema(storage)
        return storage

    @cached_property
    def keys(self) -> KeyStore:
        return KeyStore(self.engine)

    @cached_property
    def datasets(self) -> DatasetStore:
        return DatasetStore(self.engine)

    @cached_property
    def evaluations(self) -> EvaluationStore:
        return EvaluationStore(self.engine)

    @cached_property
    def models(self) -> ModelStore:
        """The best model of each evaluated study."""
        return ModelStore(self.engine)

    @cached_property
    def checkpoints(self) -> CheckpointStore:
        return CheckpointStore(self.engine)

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
                self._fill_counters()
                return
            except (DBAPIError, optuna.exceptions.StorageInternalError) as error:
                self.__dict__.pop("optuna_storage", None)  # made afresh on the next try
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

    def _fill_counters(self) -> None:
        """Count, once, the studies made before their counters were kept (an upgrade)."""
        with self.engine.connect() as conn:
            missing = missing_studies(conn)
        for study_id in missing:
            repair(self.engine, study_id)
        if missing:
            log.info("counted the trials of %d studies into their counters", len(missing))

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
        if "optuna_storage" in self.__dict__:
            self.optuna_storage.remove_session()
            self.optuna_storage.engine.dispose()

    # -- reads -------------------------------------------------------------------------

    @retry_transient
    def get(self, study_id: int) -> StudyRecord:
        with self.engine.connect() as conn:
            row = conn.execute(select(studies).where(studies.c.id == study_id)).first()
        if row is None:
            raise NotFoundError(f"study {study_id} does not exist")
        return record_from_row(row._mapping)

    def list_studies(
        self, *, status: str | None = None, owner_key_id: int | None = None,
        offset: int = 0, limit: int | None = None,
    ) -> list[StudyRecord]:
        """Studies by id; ``owner_key_id`` keeps those one API key submitted; ``offset`` and
        ``limit`` take one page of them in SQL."""
        return [row.record() for row in self.study_rows(
            status=status, owner_key_id=owner_key_id, offset=offset, limit=limit)]

    @retry_transient
    def study_rows(
        self, *, status: str | None = None, owner_key_id: int | None = None,
        offset: int = 0, limit: int | None = None,
    ) -> list[StudyRow]:
        """``list_studies``'s studies as rows not yet decoded (``StudyRow.record`` decodes)."""
        query = self._studies_where(select(*_UNDECODED_COLUMNS), status=status,
                                    owner_key_id=owner_key_id)
        query = query.order_by(studies.c.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [StudyRow(_COLUMN_NAMES, _JSON_COLUMNS, tuple(row))
                    for row in conn.execute(query)]

    @retry_transient
    def count_studies(self, *, status: str | None = None,
                      owner_key_id: int | None = None) -> int:
        """How many studies ``list_studies`` would give without a page."""
        query = self._studies_where(select(func.count()).select_from(studies), status=status,
                                    owner_key_id=owner_key_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    @staticmethod
    def _studies_where(query: Select[Any], *, status: str | None,
                       owner_key_id: int | None) -> Select[Any]:
        if status is not None:
            query = query.where(studies.c.status == status)
        if owner_key_id is not None:
            query = query.where(studies.c.owner_key_id == owner_key_id)
        return query

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

    @retry_transient
    def summaries(
        self, records: Sequence[StudyRecord | StudyRow], *, with_best: bool = True
    ) -> dict[int, TrialSummary]:
        """Trial counts and best trial of each study, from its counters row; without
        ``with_best`` the best trial's parameters are left empty (one query less)."""
        return summarize(self.engine, [r.id for r in records], with_best=with_best)

    def owns(self, study_id: int) -> bool:
        """Whether the Optuna study with this id is one of the service's studies."""
        with self.engine.connect() as conn:
            return conn.execute(select(studies.c.id).where(studies.c.id == study_id)).first() \
                is not None

    def load_study(
        self,
        record: StudyRecord,
        *,
        sampler: optuna.samplers.BaseSampler | None = None,
        pruner: optuna.pruners.BasePruner | None = None,
    ) -> optuna.Study:
        return optuna.load_study(study_name=record.name,
                                 storage=ServiceCachedStorage(self.optuna_storage),
                                 sampler=sampler, pruner=pruner)

    @retry_transient
    def trials(self, record: StudyRecord) -> list[FrozenTrial]:
        return self.optuna_storage.get_all_trials(record.id, deepcopy=False)

    def _delete_optuna_study(self, name: str) -> None:
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=name, storage=self.optuna_storage)
