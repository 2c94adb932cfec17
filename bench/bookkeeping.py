"""Worker bookkeeping per trial in a small and a large study, without training.

A worker's cycle around a trial, as ``service.worker`` runs it, with the objective left out:
claim a slot, fail stale trials, ``ask`` (random sampler, so the sampler's own cost stays
flat), redeem the claim and suggest (*claim to ask*); then ``tell``, end the slot and refresh
the study's status (*tell to next claim*). The study is filled with SIZE finished trials
written straight into Optuna's tables (then recounted), the worker's Optuna cache is warmed
before the first claim and by one trial, and CYCLES cycles are timed; the periodic sweep is
timed too. Each size gets a fresh database.

    python -m bench.bookkeeping --sizes 100 10000 --cycles 200
    python -m bench.bookkeeping --sizes 100 10000 --cycles 200 --postgres
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import optuna

from bench._synthetic_trials import add_trials_fast
from bench.service_cost import tiny_spec
from service.config import Settings
from service.specs import parse_spec_mapping
from service.store import StudyStore
from service.tuning import resolve_spec

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def spec(n_trials: int) -> dict[str, object]:
    """Service cost's tiny study, with the evaluation left to the defaults."""
    tiny = tiny_spec(n_trials)
    del tiny["evaluation"]
    return tiny


@contextmanager
def database(postgres: bool) -> Iterator[str]:
    if not postgres:
        with tempfile.TemporaryDirectory() as work:
            yield f"sqlite:///{work}/bench.db"
        return
    import psycopg

    name = f"rnntune_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def filler(size: int) -> list[optuna.trial.FrozenTrial]:
    rng = random.Random(0)
    dist = optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)
    return [optuna.trial.create_trial(
        params={"lr": rng.uniform(1e-3, 1e-1)}, distributions={"lr": dist},
        value=rng.random(), intermediate_values={1: rng.random()},
        user_attrs={"epochs": [{"epoch": 1, "value": rng.random()}]},
    ) for _ in range(size)]


def measure(database_url: str, size: int, cycles: int) -> dict[str, list[float]]:
    store = StudyStore(Settings(database_url=database_url, log_level="warning"))
    store.initialize()
    resolved = resolve_spec(parse_spec_mapping(spec(size + cycles + 10)),
                            spaces_dir=store.settings.search_spaces_dir)
    record = store.create(resolved)
    add_trials_fast(database_url, record.name, filler(size))
    # Written behind the service's back; revisions without counters count on every read.
    if hasattr(store, "repair_counters"):
        store.repair_counters(record.id)
    study = store.load_study(record, sampler=optuna.samplers.RandomSampler(seed=0))
    # A worker that stays on a study holds every trial in its Optuna cache: load it now, not
    # under the first claim (a cold load of 10,000 trials can outlast the grace period).
    study.get_trials(deepcopy=False)
    times: dict[str, list[float]] = {"claim_to_ask": [], "tell_to_next": [], "sweep": []}
    rng = random.Random(1)
    for cycle in range(cycles + 1):
        started = time.perf_counter()
        claim = store.claim()
        assert claim is not None, "budget spent"
        store.fail_stale_trials(study)
        trial = study.ask()
        assert store.redeem(claim)
        trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        asked = time.perf_counter()
        study.tell(trial, rng.random())
        store.trial_ended(record.id)
        store.refresh_status(record.id)
        done = time.perf_counter()
        if cycle:  # the first warms what is left (prepared statements, the sampler)
            times["claim_to_ask"].append(asked - started)
            times["tell_to_next"].append(done - asked)
        if cycle % 20 == 0:
            started = time.perf_counter()
            store.sweep()
            times["sweep"].append(time.perf_counter() - started)
    store.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bookkeeping",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    per_trial: dict[int, float] = {}
    print(f"{backend}: ms per trial, median (p90) over {args.cycles} cycles")
    print("| trials in study | claim to ask | tell to next claim | bookkeeping | sweep |")
    print("|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        with database(args.postgres) as url:
            times = measure(url, size, args.cycles)
        total = [a + b for a, b in zip(times["claim_to_ask"], times["tell_to_next"],
                                       strict=True)]
        per_trial[size] = statistics.median(total)

        def fmt(values: list[float]) -> str:
            p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]
            return f"{1000 * statistics.median(values):.1f} ({1000 * p90:.1f})"

        print(f"| {size:,} | {fmt(times['claim_to_ask'])} | {fmt(times['tell_to_next'])} | "
              f"{fmt(total)} | {fmt(times['sweep'])} |", flush=True)
    if len(per_trial) > 1:
        small, large = min(per_trial), max(per_trial)
        print(f"bookkeeping at {large:,} / at {small:,}: "
              f"{per_trial[large] / per_trial[small]:.2f}x")


if __name__ == "__main__":
    main()
