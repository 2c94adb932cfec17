"""A worker keeps the study it last ran between trials (its Optuna cache of finished trials),
with a fresh sampler and pruner for every trial, and never mistakes a re-created study for it."""

from __future__ import annotations

from typing import Any

import optuna

from service.config import Settings
from service.store import StudyStore, count_trials
from service.worker import Worker
from tests.factories import create_study


def run_trials(worker: Worker, store: StudyStore, n: int) -> list[optuna.Study]:
    """Run ``n`` trials; return the study object each one ran in."""
    used = []
    for _ in range(n):
        claim = store.claim()
        assert claim is not None
        worker._run_trial(claim)
        store.trial_ended(claim.study.id)
        store.refresh_status(claim.study.id)
        assert worker._study is not None
        used.append(worker._study[1])
    return used


def test_a_worker_reuses_its_study_with_a_new_sampler_per_trial(
    sqlite_settings: Settings,
) -> None:
    store = StudyStore(sqlite_settings)
    store.initialize()
    record = create_study(store, name="reuse", budget={"n_trials": 3, "max_epochs": 1})
    worker = Worker(sqlite_settings, worker_id="w", device="cpu")
    samplers = []
    original = worker._load_study

    def spy(*args: Any) -> optuna.Study:
        study = original(*args)
        samplers.append(study.sampler)
        return study

    worker._load_study = spy  # type: ignore[method-assign]
    used = run_trials(worker, store, 3)
    assert used[0] is used[1] is used[2], "the same study object served every trial"
    assert len({id(s) for s in samplers}) == 3, "every trial got its own sampler"
    trials = store.trials(record)
    assert count_trials(trials).complete == 3
    # The cached study saw every trial (its own and, in general, other workers').
    assert len(used[-1].get_trials(deepcopy=False)) == 3
    assert store.get(record.id).status == "completed"
    store.close()


def test_a_recreated_study_with_the_same_name_is_loaded_afresh(
    sqlite_settings: Settings,
) -> None:
    store = StudyStore(sqlite_settings)
    store.initialize()
    first = create_study(store, name="again", budget={"n_trials": 2, "max_epochs": 1})
    worker = Worker(sqlite_settings, worker_id="w", device="cpu")
    [old] = run_trials(worker, store, 1)
    store.delete(first.id)
    second = create_study(store, name="again", budget={"n_trials": 2, "max_epochs": 1})
    [new] = run_trials(worker, store, 1)
    assert new is not old
    trials = store.trials(second)
    assert len(trials) == 1 and trials[0].number == 0
    store.close()
