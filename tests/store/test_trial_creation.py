"""Creating a trial (``ask``): numbered 0, 1, 2, ... once each and counted, with many
creators at once; on PostgreSQL in one statement of the service's own function."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from optuna.trial import TrialState

from service.config import Settings
from service.store import StudyStore
from tests.conftest import POSTGRES_ADMIN_URL
from tests.factories import assert_counters_exact, create_study, make_settings
from tests.store.test_counters import assert_numbered_in_creation_order


def _create(settings: Settings, study_id: int, n: int, start: threading.Barrier,
            numbers: list[int], errors: list[BaseException]) -> None:
    store = StudyStore(settings)  # an engine of its own, as a worker process has
    try:
        storage = store.optuna_storage
        start.wait()
        for _ in range(n):
            trial_id = storage.create_new_trial(study_id)
            numbers.append(storage.get_trial_number_from_id(trial_id))
    except BaseException as error:  # reported by the test
        errors.append(error)
    finally:
        store.close()


def test_creators_at_once_number_each_trial_once_and_count_it(
    any_settings: Settings, store: StudyStore
) -> None:
    record = create_study(store, budget={"n_trials": 100, "max_epochs": 1})
    numbers: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)
    threads = [threading.Thread(target=_create,
                                args=(any_settings, record.id, 8, start, numbers, errors))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(numbers) == list(range(48))
    assert_numbered_in_creation_order(store, record.id)
    assert_counters_exact(store, record.id)
    trials = store.trials(record)
    assert len(trials) == 48 and {t.state for t in trials} == {TrialState.RUNNING}


def test_a_trial_of_a_study_that_does_not_exist_is_a_key_error(store: StudyStore) -> None:
    # Optuna's own contract for an unknown study id, kept by the one-statement path.
    with pytest.raises(KeyError):
        store.optuna_storage.create_new_trial(987654)


@pytest.mark.postgres
def test_postgresql_creates_each_trial_with_one_call_of_the_function(postgres_url: str) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_URL.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" SET track_functions = \'pl\'')
    store = StudyStore(make_settings(postgres_url))
    store.initialize()
    record = create_study(store)
    study = store.load_study(record)
    for _ in range(3):
        study.ask()
    store.close()  # its server processes end and hand in their counts
    with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as conn:
        calls = 0
        for _ in range(50):  # the statistics arrive a moment after the processes end
            row = conn.execute("SELECT calls FROM pg_stat_user_functions "
                               "WHERE funcname = 'rnntune_create_trial'").fetchone()
            calls = 0 if row is None else int(row[0])
            if calls >= 3:
                break
            conn.execute("SELECT pg_stat_clear_snapshot()")
            time.sleep(0.1)
    assert calls == 3
