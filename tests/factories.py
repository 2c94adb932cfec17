"""What tests build: settings, a tiny study spec, studies in a store, trials of dead workers.

The fixtures that hand these out are in ``conftest``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import optuna
from sqlalchemy import text

from service.config import Settings
from service.specs import parse_spec_mapping
from service.store import StudyRecord, StudyStore, best_trial, count_trials
from service.tuning import resolve_spec

__all__ = [
    "age_claims",
    "assert_counters_exact",
    "create_study",
    "make_settings",
    "make_stale",
    "slow_spec",
    "start_trial",
    "tiny_spec",
    "wait_for",
]


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "heartbeat_interval_s": 1,
        "grace_period_s": 3,
        "poll_interval_s": 0.2,
        "sweep_interval_s": 0.5,
        "workers": 2,
        "device": "cpu",
    }
    values.update(overrides)
    return Settings(**values)


def tiny_spec(**overrides: Any) -> dict[str, Any]:
    """A study whose trials train a few-unit RNN on 64 short sequences: about a second each."""
    spec: dict[str, Any] = {
        "task": {"name": "adding", "seq_len": 8, "n_train": 64, "n_val": 32, "n_test": 32},
        "search_space": {
            "params": {
                "cell": {"type": "categorical", "choices": ["gru", "lstm"]},
                "hidden_size": {"type": "int", "low": 4, "high": 8},
                "lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
                "batch_size": 32,
            }
        },
        "sampler": {"name": "random", "seed": 0},
        "pruner": {"name": "none"},
        "budget": {"n_trials": 3, "max_epochs": 2},
        "warm_start": None,  # the sampler alone, unless a test asks for a warm start
    }
    spec.update(overrides)
    return spec


def slow_spec(**overrides: Any) -> dict[str, Any]:
    """A study whose one trial takes several seconds: long enough to kill its worker."""
    spec = tiny_spec(
        task={"name": "adding", "seq_len": 40, "n_train": 2048, "n_val": 64, "n_test": 32},
        search_space={"params": {"cell": "gru", "hidden_size": 8, "lr": 0.01, "batch_size": 16}},
        budget={"n_trials": 1, "max_epochs": 5},
    )
    spec.update(overrides)
    return spec


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def create_study(store: StudyStore, spec: dict[str, Any] | None = None, **overrides: Any
                 ) -> StudyRecord:
    """The study of ``spec`` (by default ``tiny_spec(**overrides)``), created in the store as
    it is, without the submit path's limits, quota and warm start."""
    parsed = parse_spec_mapping(spec if spec is not None else tiny_spec(**overrides))
    return store.create(resolve_spec(parsed, spaces_dir=store.settings.search_spaces_dir))


def start_trial(store: StudyStore, record: Any) -> tuple[optuna.Study, int]:
    """Claim a slot and start a trial, as a worker does; return the study and trial number."""
    claim = store.claim()
    assert claim is not None
    study = store.load_study(record)
    trial = study.ask()
    assert store.redeem(claim)  # the claim becomes the running trial
    trial.suggest_float("lr", 1e-3, 1e-1, log=True)
    trial.report(0.5, 1)
    return study, trial.number


def make_stale(store: StudyStore, record: Any, number: int) -> None:
    """Its worker died a minute ago: the last heartbeat is older than the grace period."""
    storage = store.optuna_storage
    trial_id = storage.get_trial_id_from_study_id_trial_number(record.id, number)
    storage.record_heartbeat(trial_id)
    past = ("datetime(heartbeat, '-60 seconds')" if store.settings.is_sqlite
            else "heartbeat - interval '60 seconds'")
    with store.engine.begin() as conn:
        conn.execute(text(f"UPDATE trial_heartbeats SET heartbeat = {past} "
                          "WHERE trial_id = :id"), {"id": trial_id})
    assert storage.stale_trial_ids(record.id) == [trial_id]


def age_claims(store: StudyStore, record: Any) -> None:
    """Every pending claim of the study was made a minute ago (by the database's clock)."""
    past = ("datetime(claimed_at, '-60 seconds')" if store.settings.is_sqlite
            else "claimed_at - interval '60 seconds'")
    with store.engine.begin() as conn:
        conn.execute(text(f"UPDATE rnntune_claims SET claimed_at = {past} "
                          "WHERE study_id = :id"), {"id": record.id})


def assert_counters_exact(store: StudyStore, study_id: int) -> None:
    """The study's kept counters and retry links equal a full recount in SQL, and the counts
    and best trial equal Python's own count over every trial (``count_trials``)."""
    kept = store.kept_counters(study_id)
    truth = store.recount_counters(study_id)
    assert kept == truth, f"study {study_id}: kept {kept} != recounted {truth}"
    record = store.get(study_id)
    trials = store.trials(record)
    assert kept.counts == count_trials(trials)
    best = best_trial(record, trials)
    assert (kept.best_number, kept.best_value) == (
        (None, None) if best is None else (best.number, best.values[0]))
    retried_by = {int(t.system_attrs["retry_history"][-1]): t.number for t in trials
                  if t.system_attrs.get("retry_history")}
    assert {n: r for n, r in kept.links.items() if r is not None} == retried_by
