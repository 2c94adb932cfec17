"""A worker keeps the studies it ran lately between trials (their Optuna caches of finished
trials), with a fresh sampler and pruner for every trial, never mistakes a re-created study for
one of them, and keeps several warm while claims rotate between studies."""

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
        study = worker.studies.peek(claim.study.id)
        assert study is not None
        used.append(study)
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


def test_claims_rotating_between_studies_load_each_study_once(sqlite_settings: Settings) -> None:
    store = StudyStore(sqlite_settings)
    store.initialize()
    records = [create_study(store, name=f"rotate-{i}", budget={"n_trials": 2, "max_epochs": 1})
               for i in range(3)]
    worker = Worker(sqlite_settings.model_copy(update={"worker_cached_studies": 3}),
                    worker_id="w", device="cpu")
    loaded: list[str] = []
    original = worker.store.load_study

    def spy(record: Any, **kwargs: Any) -> optuna.Study:
        loaded.append(record.name)
        return original(record, **kwargs)

    worker.store.load_study = spy  # type: ignore[method-assign]
    # Claims go round the three studies: each is read from the database once, then stays.
    seen = []
    for _ in range(6):
        [study] = run_trials(worker, store, 1)
        seen.append(study.study_name)
    assert sorted(loaded) == sorted(r.name for r in records)
    assert len(set(seen)) == 3 and len(worker.studies) == 3
    for record in records:
        assert count_trials(store.trials(record)).complete == 2
        assert store.get(record.id).status == "completed"
    store.close()


def test_the_least_recently_used_study_leaves_a_full_cache(sqlite_settings: Settings) -> None:
    store = StudyStore(sqlite_settings)
    store.initialize()
    records = [create_study(store, name=f"lru-{i}", budget={"n_trials": 1, "max_epochs": 1})
               for i in range(3)]
    worker = Worker(sqlite_settings.model_copy(update={"worker_cached_studies": 2}),
                    worker_id="w", device="cpu")
    used = [study.study_name for study in run_trials(worker, store, 3)]
    assert sorted(used) == sorted(r.name for r in records)
    kept = {r.name for r in records if r.id in worker.studies}
    assert kept == set(used[1:]), "the study used first left"
    store.close()
