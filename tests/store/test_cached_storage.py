"""The worker's cached study: ``ask`` reads no trials to look for waiting ones when the study
has none, and still runs a waiting trial first when it has one; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Container

from optuna.trial import FrozenTrial, TrialState

from service.store import StudyStore
from tests.store.test_trial_rows import create


def test_ask_reads_no_trials_to_find_none_waiting(store: StudyStore) -> None:
    record = create(store)
    study = store.load_study(record)
    for _ in range(3):
        trial = study.ask()
        trial.suggest_float("lr", 1e-3, 1e-1, log=True)
    backend = study._storage._backend  # type: ignore[attr-defined]
    reads: list[Container[TrialState] | None] = []
    real_read = backend._get_trials

    def counted(study_id: int, states: Container[TrialState] | None, **ids: object
                ) -> list[FrozenTrial]:
        reads.append(states)
        return real_read(study_id, states, **ids)  # type: ignore[no-any-return]

    backend._get_trials = counted
    asked = study.ask()
    assert reads == [] and asked.number == 3
    assert len(study.get_trials(deepcopy=False)) == 4 and len(reads) == 1  # reads still read


def test_ask_runs_a_waiting_trial_first(store: StudyStore) -> None:
    record = create(store)
    study = store.load_study(record)
    first = study.ask()
    first.suggest_float("lr", 1e-3, 1e-1, log=True)
    study.tell(first, 0.5)
    study.enqueue_trial({"lr": 0.0123})
    waiting = store.load_study(record).ask()  # the cache of another worker's study
    assert waiting.number == 1 and waiting.suggest_float("lr", 1e-3, 1e-1, log=True) == 0.0123
    assert study.ask().number == 2  # none waiting any more
    assert [t.state for t in study.get_trials(deepcopy=False)] == [
        TrialState.COMPLETE, TrialState.RUNNING, TrialState.RUNNING]
