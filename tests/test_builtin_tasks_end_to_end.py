"""A small study on each built-in task, through the API and a real worker, to its final
evaluation: the study's JSON shows the validation best, the test score, the mean and spread over
seeds, and the baselines beside them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.client import Client
from service.config import Settings
from service.worker import Worker

pytestmark = pytest.mark.slow

GRU = {"cell": "gru", "hidden_size": {"type": "int", "low": 8, "high": 16}, "batch_size": 32}

CASES: dict[str, tuple[dict[str, Any], dict[str, Any], str, dict[str, float | None]]] = {
    # task, search space params, objective metric, baselines by name (test value, if fixed)
    "adding": ({"name": "adding", "seq_len": 10, "n_train": 512, "n_val": 128, "n_test": 128},
               {**GRU, "lr": 0.01}, "val_mse", {"predict_one": 1 / 6}),
    "copy_memory": ({"name": "copy_memory", "n_symbols": 4, "n_remember": 2, "delay": 5,
                     "n_train": 512, "n_val": 128, "n_test": 128},
                    {**GRU, "lr": 0.01}, "val_accuracy", {"no_memory": 0.25}),
    "sunspots": ({"name": "sunspots"},
                 {**GRU, "window": {"type": "int", "low": 6, "high": 12}, "lr": 0.01,
                  "batch_size": 16},
                 "val_mse", {"naive_last_value": 920.73, "ar9": 305.25}),
    "japanese_vowels": ({"name": "japanese_vowels"},
                        {**GRU, "bidirectional": {"type": "categorical",
                                                  "choices": [False, True]}, "lr": 0.01},
                        "val_accuracy", {"majority_class": 31 / 370, "1nn_dtw": 0.9486}),
}


@pytest.fixture
def client(sqlite_settings: Settings) -> Iterator[Client]:
    with TestClient(create_app(sqlite_settings)) as http:
        yield Client(str(http.base_url), http=http)


@pytest.mark.parametrize("task", list(CASES))
def test_study_runs_to_its_final_evaluation(
    task: str, client: Client, sqlite_settings: Settings
) -> None:
    options, params, metric, baselines = CASES[task]
    started = time.monotonic()
    study = client.submit({
        "name": f"e2e-{task}",
        "task": options,
        "search_space": {"params": params},
        "objective": {"metric": metric},
        "sampler": {"name": "random", "seed": 0},
        "pruner": {"name": "none"},
        "budget": {"n_trials": 3, "max_epochs": 6},
        "evaluation": {"seeds": 2},
    })
    worker = Worker(sqlite_settings, worker_id="e2e", device="cpu")
    worker.store.initialize()
    while True:
        study = client.study(study.id)
        if study.evaluation is not None and study.evaluation.status == "done":
            break
        assert study.evaluation is None or study.evaluation.status in ("pending", "running"), \
            study.evaluation
        assert time.monotonic() - started < 120, "the study took too long"
        if not worker.run_once():
            time.sleep(0.05)
    key = metric.removeprefix("val_")
    assert study.status == "completed" and study.trials.finished == 3
    assert study.best is not None
    evaluation = study.evaluation
    assert evaluation.trial == study.best.number
    assert evaluation.test is not None and key in evaluation.test
    seeds = evaluation.seeds
    assert seeds is not None and seeds.metric == f"test_{key}" and len(seeds.values) == 2
    assert seeds.mean is not None and seeds.std is not None and seeds.std >= 0
    shown = {b.name: b for b in study.baselines}
    assert set(shown) == set(baselines)
    for name, test_value in baselines.items():
        assert shown[name].metric == metric
        assert shown[name].test_value == pytest.approx(test_value, abs=0.01)
    assert study.baseline is not None and study.baseline.name == next(iter(baselines))
    # A trained model beats guessing on the tasks where a few epochs are enough.
    if task in ("japanese_vowels", "sunspots"):
        trivial = study.baseline.value
        assert trivial is not None
        better = study.best.value > trivial if key == "accuracy" else study.best.value < trivial
        assert better, (study.best.value, trivial)
