"""Data sets in the database (SQLite and PostgreSQL), and the migration that adds them and the
evaluation columns to a database already in use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text

from service.errors import ConflictError, NotFoundError
from service.specs import parse_spec_mapping
from service.store import StudyStore
from service.store._migrate import _config, head_revision
from service.tuning import ResolvedStudy, resolve_spec
from tests.factories import make_settings, tiny_spec


def add(store: StudyStore, name: str = "d", content: bytes = b"bytes") -> Any:
    return store.datasets.create(name=name, kind="forecasting", format="csv", content=content,
                                 meta={"options": {"target": "v"}})


def test_create_get_list_and_fetch_bytes(store: StudyStore) -> None:
    first = add(store, "first", b"a,b\n1,2\n")
    second = add(store, "second")
    assert first.size_bytes == 8 and len(first.sha256) == 64
    assert [d.name for d in store.datasets.list_datasets()] == ["first", "second"]
    assert store.datasets.get(second.id).meta == {"options": {"target": "v"}}
    stored = store.datasets.stored(first.id)
    assert stored.content == b"a,b\n1,2\n" and stored.parse_options == {"target": "v"}
    assert store.datasets.stored(first.id) is stored, "cached by id and checksum"
    with pytest.raises(NotFoundError, match="data set 999 does not exist"):
        store.datasets.get(999)


def test_duplicate_names_conflict_and_store_nothing(store: StudyStore) -> None:
    add(store, "same")
    with pytest.raises(ConflictError, match="already exists"):
        add(store, "same", b"other")
    assert len(store.datasets.list_datasets()) == 1


def test_a_dataset_in_use_cannot_be_deleted(
    store: StudyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = add(store)
    spec = tiny_spec(name="uses-it")
    resolved = resolve_spec(parse_spec_mapping(spec), spaces_dir=store.settings.search_spaces_dir)
    stored_spec = resolved.stored_spec()
    stored_spec["task"] = {"dataset": dataset.id}  # as a study on the data set stores it
    monkeypatch.setattr(ResolvedStudy, "stored_spec", lambda _: stored_spec)
    record = store.create(resolved)
    assert record.name == "uses-it"
    assert store.datasets.users(dataset.id) == [record.id]
    with pytest.raises(ConflictError, match=rf"used by active studies \[{record.id}\]"):
        store.datasets.delete(dataset.id)
    store.cancel(record.id)
    store.datasets.delete(dataset.id)
    with pytest.raises(NotFoundError):
        store.datasets.get(dataset.id)


def test_upgrade_from_the_previous_revision_keeps_studies(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'old.db'}")
    store = StudyStore(settings)
    _ = store.optuna_storage
    with store.engine.begin() as conn:
        command.upgrade(_config(conn), "0002")
        conn.execute(text(
            "INSERT INTO rnntune_studies (id, name, status, spec, n_trials, claimed, in_flight, "
            "priority, created_at) VALUES (1, 'old', 'completed', '{\"task\": {\"name\": "
            "\"adding\"}}', 1, 1, 0, 0, '2026-01-01 00:00:00')"
        ))
    assert "rnntune_datasets" not in inspect(store.engine).get_table_names()
    store.initialize()
    assert "rnntune_datasets" in inspect(store.engine).get_table_names()
    old = store.get(1)
    assert old.eval_status is None and old.evaluation is None and old.baselines is None
    with store.engine.begin() as conn:
        assert conn.execute(text("SELECT eval_attempts FROM rnntune_studies")).scalar() == 0
        command.downgrade(_config(conn), "0002")
    assert "rnntune_datasets" not in inspect(store.engine).get_table_names()
    store.initialize()
    with store.engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM rnntune_alembic_version")).scalar()
    assert version == head_revision()
    store.close()
