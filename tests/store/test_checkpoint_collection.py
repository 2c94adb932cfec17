"""Checkpoints nobody will resume are deleted; a full disk is a clear error, not a retry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from service.api import create_app
from service.config import Settings
from service.errors import ConflictError
from service.store import StudyStore, is_disk_full, is_transient
from tests.factories import create_study, make_settings, make_stale, start_trial, tiny_spec


def with_checkpoint(store: StudyStore, record: Any, key: str) -> tuple[Any, int]:
    study, number = start_trial(store, record)
    trial_id = store.optuna_storage.get_trial_id_from_study_id_trial_number(record.id, number)
    store.optuna_storage.set_trial_user_attr(trial_id, "checkpoint_key", key)
    store.checkpoints.save(key=key, study_id=record.id, epoch=1, state=b"weights")
    return study, number


def keys(store: StudyStore) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.execute(text("SELECT key FROM rnntune_checkpoints")).scalars())


def test_only_lineages_that_may_resume_keep_their_checkpoints(any_settings: Settings) -> None:
    store = StudyStore(any_settings.model_copy(update={"max_trial_retries": 1}))
    store.initialize()
    record = create_study(store, budget={"n_trials": 5, "max_epochs": 3})
    study, retried = with_checkpoint(store, record, "retried")
    make_stale(store, record, retried)
    assert store.fail_stale_trials(study) == [retried]  # its retry waits: keep
    with_checkpoint(store, record, "running")  # live: keep
    study, spent = with_checkpoint(store, record, "spent")
    trial_id = store.optuna_storage.get_trial_id_from_study_id_trial_number(record.id, spent)
    store.optuna_storage.set_trial_system_attr(trial_id, "retry_history", [99])
    make_stale(store, record, spent)
    assert store.fail_stale_trials(study) == [spent]  # out of retries: nobody resumes it
    store.checkpoints.save(key="orphan", study_id=9999, epoch=1, state=b"x")  # no such study
    store.sweep()
    assert keys(store) == {"retried", "running"}
    store.cancel(record.id)
    assert keys(store) == set(), "a study that stops being active keeps none"
    store.close()


def test_a_full_disk_is_not_retried_and_the_api_says_so(sqlite_settings: Settings) -> None:
    with TestClient(create_app(sqlite_settings), raise_server_exceptions=False) as http:
        assert http.post("/v1/studies", json=tiny_spec()).status_code == 201
        api = http.app.app.api  # type: ignore[attr-defined]
        store: StudyStore = api.state.store
        engines = [store.engine, store.optuna_storage.engine]
        with store.engine.connect() as conn:
            pages = int(conn.execute(text("PRAGMA page_count")).scalar_one())

        def cap(dbapi_connection: Any, _: Any) -> None:
            # SQLite's own limit: writes past it fail with SQLITE_FULL, as on a full disk.
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

        for engine in engines:
            event.listen(engine, "connect", cap)
            engine.dispose()
        for _ in range(15):  # until the free space inside the file is used up
            response = http.post("/v1/studies", json=tiny_spec())
            if response.status_code != 201:
                break
        assert response.status_code == 507, response.text
        assert "disk is full" in response.json()["detail"]
        for engine in engines:
            event.remove(engine, "connect", cap)
            engine.dispose()


def test_disk_full_is_told_apart_from_a_hiccup(tmp_path: Any) -> None:
    import sqlite3

    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    engine = create_engine(f"sqlite:///{tmp_path / 'full.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x TEXT)"))
        pages = int(conn.execute(text("PRAGMA page_count")).scalar_one())
    with pytest.raises(OperationalError) as full, engine.begin() as conn:
        conn.execute(text(f"PRAGMA max_page_count = {pages}"))
        conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": "z" * 100_000})
    assert is_disk_full(full.value) and not is_transient(full.value)
    locked = OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))
    assert is_transient(locked) and not is_disk_full(locked)
    engine.dispose()


def test_a_cancel_deletes_the_studys_checkpoints_and_returns_the_study_as_stored(
    store: StudyStore,
) -> None:
    held = create_study(store, name="held", budget={"n_trials": 5, "max_epochs": 3})
    other = create_study(store, name="other", budget={"n_trials": 5, "max_epochs": 3})
    with_checkpoint(store, held, "held-key")
    with_checkpoint(store, other, "other-key")
    cancelled = store.cancel(held.id)
    assert keys(store) == {"other-key"}, "deleted by the cancel itself, not left to the sweep"
    assert cancelled == store.get(held.id) and cancelled.status == "cancelled"
    bare = create_study(store, name="bare")  # no checkpoint: nothing to delete
    assert store.cancel(bare.id) == store.get(bare.id)
    assert keys(store) == {"other-key"}


@pytest.fixture
def refusing_store(postgres_url: str) -> Iterator[tuple[StudyStore, Any]]:
    """A PostgreSQL store with a study holding a checkpoint, where every delete of a
    checkpoint fails with a deadlock (retried, then given up)."""
    store = StudyStore(make_settings(postgres_url))
    store.initialize()
    record = create_study(store, budget={"n_trials": 5, "max_epochs": 3})
    with_checkpoint(store, record, "kept")
    with store.engine.begin() as conn:
        conn.execute(text(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END $$"))
        conn.execute(text("CREATE TRIGGER refuse BEFORE DELETE ON rnntune_checkpoints "
                          "FOR EACH STATEMENT EXECUTE FUNCTION refuse()"))
    yield store, record
    store.close()


def allow_checkpoint_deletes(store: StudyStore) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse ON rnntune_checkpoints"))
        conn.execute(text("DROP FUNCTION refuse()"))


@pytest.mark.postgres
def test_a_cancel_whose_checkpoint_delete_keeps_failing_is_still_a_cancel(
    refusing_store: tuple[StudyStore, Any],
) -> None:
    store, record = refusing_store
    # The retries re-ran the whole cancel: the move had committed, so it answered "already
    # cancelled" to the one request that cancelled.
    assert store.cancel(record.id).status == "cancelled"
    assert keys(store) == {"kept"}
    allow_checkpoint_deletes(store)
    store.sweep()
    assert keys(store) == set(), "the sweep collects what the cancel could not delete"
    with pytest.raises(ConflictError, match="cancelled"):
        store.cancel(record.id)


@pytest.mark.postgres
def test_a_study_failed_while_its_checkpoint_delete_keeps_failing_is_failed(
    refusing_store: tuple[StudyStore, Any],
) -> None:
    store, record = refusing_store
    # Retried together, the delete's lasting fault raised out of a study that had failed.
    store.fail_study(record.id, "its data set cannot be read")
    failed = store.get(record.id)
    assert (failed.status, failed.stop_reason) == ("failed", "its data set cannot be read")
    assert keys(store) == {"kept"}
    allow_checkpoint_deletes(store)
    store.sweep()
    assert keys(store) == set(), "the sweep collects what the move could not delete"
    store.fail_study(record.id, "a second reason")  # no longer active: nothing changes
    assert store.get(record.id).stop_reason == "its data set cannot be read"
