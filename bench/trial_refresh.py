"""The refresh Optuna's cached storage runs on every ``ask``: Optuna's ORM loader against the
service's plain-SQL one, on the same rows.

On every ``ask`` a worker's cached study reloads every trial that was unfinished at its last
read plus every newer trial (``RDBStorage._get_trials``); with many workers on one study that
is one trial per other worker. Here a study holds FINISHED finished trials and RUNNING running
ones (the 6 parameters of the shipped LSTM space, an intermediate value and the per-epoch
user attribute each), and both loaders read the running ones plus the last 20 finished, as
that refresh does, REPEATS x 20 times each, alternating. The two must return equal trials.

    python -m bench.trial_refresh --running 2 64 --postgres
    python -m bench.trial_refresh --running 2 64
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial

from bench.bookkeeping import database, spec
from service.config import Settings
from service.specs import parse_spec_mapping
from service.store import StudyStore
from service.tuning import resolve_spec

CALLS = 20


def fill(study: optuna.Study, finished: int, running: int) -> None:
    for index in range(finished + running):
        trial = study.ask()
        trial.suggest_categorical("cell", ["rnn", "gru", "lstm"])
        trial.suggest_int("hidden_size", 16, 128, log=True)
        trial.suggest_int("num_layers", 1, 2)
        trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        trial.suggest_categorical("batch_size", [32, 64, 128])
        trial.suggest_float("grad_clip", 0.25, 10, log=True)
        trial.report(0.5, 1)
        trial.set_user_attr("epochs", [{"epoch": 1, "value": 0.5, "train_loss": 0.6,
                                        "grad_norm": 1.2, "seconds": 0.4}])
        if index < finished:
            study.tell(trial, 0.5)


def ms_per_call(load: Callable[[], list[FrozenTrial]]) -> float:
    started = time.perf_counter()
    for _ in range(CALLS):
        load()
    return (time.perf_counter() - started) / CALLS * 1000


def measure(url: str, finished: int, running: int, repeats: int) -> tuple[float, float, int]:
    store = StudyStore(Settings(database_url=url, log_level="warning"))
    store.initialize()
    try:
        record = store.create(resolve_spec(parse_spec_mapping(spec(finished + running)),
                                           spaces_dir=store.settings.search_spaces_dir))
        study = store.load_study(record)
        fill(study, finished, running)
        storage = study._storage._backend  # type: ignore[attr-defined]
        trials = study.get_trials(deepcopy=False)
        unfinished = {t._trial_id for t in trials if not t.state.is_finished()}
        done = sorted(t._trial_id for t in trials if t.state.is_finished())
        newer_than = done[-21] if len(done) > 20 else -1
        study_id = study._study_id

        def optuna_loader() -> list[FrozenTrial]:
            return RDBStorage._get_trials(storage, study_id, None, unfinished, newer_than)

        def plain_loader() -> list[FrozenTrial]:
            return storage._get_trials(study_id, None, unfinished, newer_than)  # type: ignore[no-any-return]

        loaded = optuna_loader()
        assert plain_loader() == loaded, "the loaders disagree"
        pairs = [(ms_per_call(optuna_loader), ms_per_call(plain_loader))
                 for _ in range(repeats)]
        return (statistics.median(p[0] for p in pairs),
                statistics.median(p[1] for p in pairs), len(loaded))
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--running", type=int, nargs="+", default=[2, 64])
    parser.add_argument("--finished", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print("| backend | running trials | trials read a call | Optuna's ORM loader, ms | "
          "plain SQL, ms | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for running in args.running:
        with database(args.postgres) as url:
            orm, plain, count = measure(url, args.finished, running, args.repeats)
        print(f"| {backend} | {running} | {count} | {orm:.2f} | {plain:.2f} | "
              f"{orm / plain:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
