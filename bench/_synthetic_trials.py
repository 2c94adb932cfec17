"""A study's history, made up: finished trials with what a real trial stores, and a fast way
to add many of them to a study's tables."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from service.spaces import SearchSpace


def synthetic_score(params: dict[str, Any], rng: random.Random) -> float:
    """Lower is better: a bowl in log(lr) and log(hidden size), plus noise."""
    lr = math.log10(float(params.get("lr", 3e-3)))
    hidden = math.log2(float(params.get("hidden_size", 64)))
    return 0.01 + 0.05 * (lr + 2.5) ** 2 + 0.01 * (hidden - 6) ** 2 + rng.random() * 0.01


def synthetic_trials(space: SearchSpace, count: int, *, seed: int,
                     max_epochs: int = 10) -> list[FrozenTrial]:
    """``count`` finished trials with random parameters of ``space`` and what a real trial
    stores: per-epoch intermediate values and user attributes; a quarter of them pruned."""
    import optuna
    from optuna.trial import TrialState

    rng = random.Random(seed)
    scratch = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    trials = []
    for _ in range(count):
        trial = scratch.ask()
        params = space.suggest(trial)
        final = synthetic_score(params, rng)
        pruned = rng.random() < 0.25
        epochs = rng.randint(3, 5) if pruned else max_epochs
        values = {step: final * (1 + 3.0 / step) for step in range(1, epochs + 1)}
        log = [{"epoch": s, "value": v, "train_loss": v * 1.1, "grad_norm_mean": 0.5,
                "grad_norm_max": 1.5} for s, v in values.items()]
        trials.append(optuna.trial.create_trial(
            state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
            value=None if pruned else min(values.values()),
            params=trial.params,
            distributions=trial.distributions,
            user_attrs={"epochs": log, "device": "cpu", "worker": "synthetic",
                        "best_epoch": epochs},
            intermediate_values=values,
        ))
        scratch.tell(trial, final)
    return trials


def add_trials_fast(database_url: str, study_name: str, trials: Sequence[FrozenTrial]) -> None:
    """Add finished ``trials`` to a study with a few bulk INSERTs into Optuna's tables.

    ``study.add_trials`` numbers each new trial by counting the study's trials, so filling a
    study of N trials costs O(N^2) (about 150 s for 10,000); this writes the same rows in a
    second. Benchmarks only: the service itself never writes Optuna's tables directly, so
    a service study filled this way must have its counters recounted afterwards
    (``StudyStore.repair_counters``).
    """
    import json

    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models
    from sqlalchemy import create_engine, func, insert, select, text

    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            study_id = conn.execute(select(models.StudyModel.study_id).where(
                models.StudyModel.study_name == study_name)).scalar_one()
            next_id = int(conn.execute(select(func.coalesce(
                func.max(models.TrialModel.trial_id), 0))).scalar_one()) + 1
            next_number = int(conn.execute(select(func.count()).select_from(
                models.TrialModel.__table__).where(
                models.TrialModel.study_id == study_id)).scalar_one())
            rows: dict[str, list[dict[str, Any]]] = {
                "trials": [], "params": [], "values": [], "intermediate": [], "attrs": []}
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            for i, trial in enumerate(trials):
                trial_id = next_id + i
                rows["trials"].append({
                    "trial_id": trial_id, "number": next_number + i, "study_id": study_id,
                    "state": trial.state.name,
                    "datetime_start": trial.datetime_start or now,
                    "datetime_complete": trial.datetime_complete or now,
                })
                for name, value in trial.params.items():
                    dist = trial.distributions[name]
                    rows["params"].append({
                        "trial_id": trial_id, "param_name": name,
                        "param_value": dist.to_internal_repr(value),
                        "distribution_json": distribution_to_json(dist)})
                if trial.values is not None:
                    for objective, value in enumerate(trial.values):
                        rows["values"].append({
                            "trial_id": trial_id, "objective": objective, "value": value,
                            "value_type": "FINITE"})
                for step, value in trial.intermediate_values.items():
                    rows["intermediate"].append({
                        "trial_id": trial_id, "step": step, "intermediate_value": value,
                        "intermediate_value_type": "FINITE"})
                for key, value in trial.user_attrs.items():
                    rows["attrs"].append({"trial_id": trial_id, "key": key,
                                          "value_json": json.dumps(value)})
            tables: dict[str, Any] = {
                "trials": models.TrialModel, "params": models.TrialParamModel,
                      "values": models.TrialValueModel,
                      "intermediate": models.TrialIntermediateValueModel,
                      "attrs": models.TrialUserAttributeModel}
            for name, model in tables.items():
                if rows[name]:
                    conn.execute(insert(model.__table__), rows[name])
            if conn.dialect.name == "postgresql":  # explicit ids leave the sequence behind
                conn.execute(text("SELECT setval(pg_get_serial_sequence('trials', 'trial_id'), "
                                  "(SELECT max(trial_id) FROM trials))"))
    finally:
        engine.dispose()
