"""The SQL page loader builds the same trials as Optuna's own loader; the SQL summary picks the
same best trial as ``best_trial``, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import optuna
import pytest
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import event

from service.specs import parse_spec_mapping
from service.store import StudyStore, _trial_rows, best_trial
from service.store._stale import requeue
from service.store._trial_rows import load_trials
from service.tuning import resolve_spec
from tests.factories import tiny_spec


def create(store: StudyStore, direction: str = "minimize", name: str | None = None) -> Any:
    spec = parse_spec_mapping(tiny_spec(name=name))
    resolved = resolve_spec(spec, spaces_dir=store.settings.search_spaces_dir)
    # Any direction, whatever the metric's natural one: the rows are written by hand below.
    return store.create(dataclasses.replace(resolved, direction=direction))


def fill(study: optuna.Study) -> None:
    """Trials of every kind: values (finite, infinite, tied), pruned with non-finite
    intermediate values, failed and retried, waiting, running, and attributes."""
    for value in (0.5, 0.2, 0.2, math.inf, -math.inf if study.direction.name == "MAXIMIZE"
                  else 0.7):
        trial = study.ask()
        trial.suggest_categorical("cell", ["gru", "lstm"])
        trial.suggest_int("hidden_size", 4, 8)
        trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        trial.report(value * 2, 1)
        trial.set_user_attr("epochs", [{"epoch": 1, "value": value * 2}])
        study.tell(trial, value)
    pruned = study.ask()
    pruned.suggest_float("lr", 1e-3, 1e-1, log=True)
    pruned.report(math.nan, 1)
    pruned.report(math.inf, 2)
    pruned.report(-math.inf, 3)
    pruned.set_user_attr("prune_reason", "diverged")
    study.tell(pruned, state=TrialState.PRUNED)
    failed = study.ask()
    failed.suggest_float("lr", 1e-3, 1e-1, log=True)
    study.tell(failed, state=TrialState.FAIL)
    requeue(study, study.trials[failed.number])  # waiting, with system attributes
    running = study.ask()
    running.suggest_int("hidden_size", 4, 8)


def test_page_loader_builds_what_optuna_builds(store: StudyStore) -> None:
    record = create(store)
    fill(store.load_study(record))
    expected = sorted(store.trials(record), key=lambda t: t.number)
    with store.engine.connect() as conn:
        loaded = load_trials(conn, [t._trial_id for t in expected])
    assert len(loaded) == len(expected) > 5
    _assert_same_trials(loaded, expected)


def test_a_trial_finishing_during_the_load_comes_back_whole(store: StudyStore) -> None:
    # Between two of the loader's queries (each place in turn) another process finishes the
    # trial: read as COMPLETE, it must carry its value.
    record = create(store)
    other = StudyStore(store.settings)
    try:
        for finish_before in range(2, 7):  # the loader runs 6 queries
            trial = store.load_study(record).ask()
            trial.suggest_float("lr", 1e-3, 1e-1, log=True)
            statements = 0

            def finish_between_queries(*_: Any) -> None:
                nonlocal statements
                statements += 1
                if statements == finish_before:  # noqa: B023 - this loop's trial and count
                    other.load_study(record).tell(trial.number, 0.25)  # noqa: B023

            with store.engine.connect() as conn:
                event.listen(conn, "before_cursor_execute", finish_between_queries)
                loaded = load_trials(conn, [trial._trial_id])
            assert statements == 6 and len(loaded) == 1
            assert loaded[0].state == TrialState.RUNNING or loaded[0].values == [0.25], (
                finish_before, loaded[0])
            assert store.trials_by_id([trial._trial_id])[0].values == [0.25]
    finally:
        other.close()


def _assert_same_trials(loaded: list[FrozenTrial], expected: list[FrozenTrial]) -> None:
    assert len(loaded) == len(expected)
    for mine, theirs in zip(loaded, expected, strict=True):
        assert mine._trial_id == theirs._trial_id
        assert mine.number == theirs.number and mine.state == theirs.state
        assert mine.values == theirs.values
        assert mine.params == theirs.params
        assert list(mine.params) == list(theirs.params)
        assert mine.distributions == theirs.distributions
        assert mine.user_attrs == theirs.user_attrs
        assert mine.system_attrs == theirs.system_attrs
        assert mine.datetime_start == theirs.datetime_start
        assert mine.datetime_complete == theirs.datetime_complete
        assert set(mine.intermediate_values) == set(theirs.intermediate_values)
        for step, value in theirs.intermediate_values.items():
            other = mine.intermediate_values[step]
            assert (math.isnan(value) and math.isnan(other)) or value == other


@pytest.mark.parametrize("ids_per_query", [5000, 2])
def test_the_storage_reads_trials_as_optuna_does(
    store: StudyStore, ids_per_query: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What Optuna's cached storage asks on every ``ask``: the trials unfinished at its last
    # read plus every newer one; all of them on a first read; by state. With 2 ids a query
    # the loads go in chunks and a long list of unfinished trials is filtered after the read.
    monkeypatch.setattr(_trial_rows, "IDS_PER_QUERY", ids_per_query)
    record = create(store)
    study = store.load_study(record)
    fill(study)
    fill(study)
    storage = study._storage._backend  # type: ignore[attr-defined]
    trials = study.get_trials(deepcopy=False)
    unfinished = {t._trial_id for t in trials if not t.state.is_finished()}
    middle = sorted(t._trial_id for t in trials)[len(trials) // 2]
    asks: list[tuple[Any, set[int], int]] = [
        (None, set(), -1), (None, unfinished, middle), (None, unfinished | {10**9}, middle),
        ((TrialState.COMPLETE, TrialState.PRUNED), set(), -1),
        ((TrialState.RUNNING, TrialState.WAITING), unfinished, middle),
    ]
    for states, included, newer_than in asks:
        expected = RDBStorage._get_trials(storage, study._study_id, states, included,
                                          newer_than)
        assert expected, (states, included, newer_than)
        _assert_same_trials(storage._get_trials(study._study_id, states, included, newer_than),
                            expected)
    with pytest.raises(KeyError):
        storage._get_trials(study._study_id + 1000, None, set(), -1)


def test_page_of_trials_is_in_order_and_links_retries(store: StudyStore) -> None:
    record = create(store)
    fill(store.load_study(record))
    total, page, retried_by = store.trials_page(record, offset=2, limit=4)
    assert total == len(store.trials(record))
    assert [t.number for t in page] == [2, 3, 4, 5]
    failed = next(t for t in store.trials(record) if t.state == TrialState.FAIL)
    assert retried_by == {}, "links of the page's trials only"
    _, page, retried_by = store.trials_page(record, offset=failed.number, limit=1)
    assert [t.number for t in page] == [failed.number] and failed.number in retried_by


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_summary_best_is_the_earliest_finite_best(store: StudyStore, direction: str) -> None:
    record = create(store, direction=direction, name=f"best-{direction}")
    fill(store.load_study(record))
    trials = store.trials(record)
    summary = store.summaries([record])[record.id]
    best = best_trial(record, trials)
    assert best is not None and summary.best is not None
    assert summary.best.number == best.number
    assert summary.best.value == best.value and math.isfinite(summary.best.value)
    assert summary.best.params == best.params
    if direction == "minimize":
        assert summary.best.number == 1  # 0.2 twice: the earlier trial wins
