"""Reads from the counters and plain SQL give what the whole-study reads gave: the best trial,
a page's totals and retry links, the Pareto front, the duration histogram, and the check for a
trial that already exists before an enqueue."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from service.specs import parse_spec_mapping
from service.store import StudyStore, best_trial, count_trials
from service.store._duplicates import has_trial_with
from service.tuning import resolve_spec
from tests.factories import tiny_spec
from tests.store.test_trial_rows import create, fill


def test_best_trial_and_page_come_from_the_counters(store: StudyStore) -> None:
    record = create(store)
    fill(store.load_study(record))
    trials = store.trials(record)
    best = store.best_trial_of(record)
    assert best is not None and best == best_trial(record, trials)
    total, page, retried_by = store.trials_page(record, offset=0, limit=100)
    assert total == len(trials) and [t.number for t in page] == [t.number for t in trials]
    failed = next(t for t in trials if t.state == TrialState.FAIL)
    retry = next(t for t in trials if t.system_attrs.get("retry_history"))
    assert retried_by == {failed.number: retry.number}
    total, page, _ = store.trials_page(record, offset=0, limit=2, state="complete")
    assert total == sum(t.state == TrialState.COMPLETE for t in trials) and len(page) == 2


def test_the_duration_histogram_counts_what_python_counts(store: StudyStore) -> None:
    record = create(store)
    fill(store.load_study(record))
    finished = [t for t in store.trials(record)
                if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in finished
                 if t.datetime_start and t.datetime_complete]
    histogram = store.duration_histogram([record], (0.0001, 1, 60))
    assert histogram.count == len(durations) == len(finished)
    assert histogram.buckets == {b: sum(d <= b for d in durations) for b in (0.0001, 1, 60)}
    # SQLite's date functions keep milliseconds: at most 1 ms off per trial.
    assert math.isclose(histogram.sum_s, sum(durations), abs_tol=1e-3 * len(durations))
    counts = count_trials(store.trials(record))
    assert store.trial_totals([record]) == {
        "running": counts.running, "waiting": counts.waiting, "complete": counts.complete,
        "pruned": counts.pruned, "fail": counts.fail}


def _multi(store: StudyStore) -> Any:
    spec = parse_spec_mapping(tiny_spec(also_minimize=["params"]))
    return store.create(resolve_spec(spec, spaces_dir=store.settings.search_spaces_dir))


@pytest.mark.parametrize("constrained", [False, True])
def test_the_pareto_front_is_optunas(store: StudyStore, constrained: bool) -> None:
    record = _multi(store)
    study = store.load_study(record)
    points = [(0.5, 10), (0.2, 30), (0.2, 30), (0.3, 5), (0.6, 40), (0.1, 50), (0.4, 5)]
    for i, values in enumerate(points):
        trial = study.ask()
        trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        if constrained:
            trial.set_constraint("latency", 1.0 if i == 5 else -1.0)  # (0.1, 50) infeasible
        study.tell(trial, list(values))
    pruned = study.ask()
    study.tell(pruned, state=TrialState.PRUNED)
    expected = sorted(store.load_study(record).best_trials, key=lambda t: t.number)
    front = store.pareto_trials(record)
    assert [t.number for t in front] == [t.number for t in expected]
    assert front == expected
    assert (5 in [t.number for t in front]) is not constrained


def test_an_existing_configuration_is_not_enqueued_twice(store: StudyStore) -> None:
    spec = parse_spec_mapping(tiny_spec(budget={"n_trials": 10, "max_epochs": 2}))
    resolved = resolve_spec(spec, spaces_dir=store.settings.search_spaces_dir)
    record = store.create(dataclasses.replace(resolved, direction="minimize"))
    study = store.load_study(record)
    trial = study.ask()
    trial.suggest_categorical("cell", ["gru", "lstm"])
    trial.suggest_float("lr", 1e-3, 1e-2, log=True)
    study.tell(trial, 0.5)
    ran = dict(trial.params)
    store.enqueue(record, ran, source="test")  # ran already: skipped
    store.enqueue(record, {"cell": "gru", "lr": 0.005}, source="test")
    store.enqueue(record, {"cell": "gru", "lr": 0.005 * (1 + 1e-7)}, source="test")  # close
    store.enqueue(record, {"cell": "lstm", "lr": 0.005}, source="test")
    waiting = [t for t in store.trials(record) if t.state == TrialState.WAITING]
    assert [t.system_attrs["fixed_params"] for t in waiting] == [
        {"cell": "gru", "lr": 0.005}, {"cell": "lstm", "lr": 0.005}]
    # The same answers as Optuna's own check, for each of these.
    optuna_study = optuna.load_study(study_name=record.name, storage=store.optuna_storage)
    for params in (ran, {"cell": "gru", "lr": 0.005}, {"cell": "gru", "lr": 0.004},
                   {"cell": "gru"}, {"cell": "lstm", "lr": 0.005}, {}):
        with store.engine.connect() as conn:
            assert has_trial_with(conn, record.id, params) == \
                optuna_study._should_skip_enqueue(params), params
