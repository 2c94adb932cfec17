"""Final evaluation of a completed study: its best configuration on the test split.

The test split is touched here only, once the search is over. The best trial's configuration
is re-trained with the study's seed (which reproduces the trial) and with further seeds; each
run keeps the epoch that was best on validation and is scored once on the test split. The
study's seed gives the test score; all seeds give the mean and spread (one seed misleads:
Reimers & Gurevych 2017). With ``evaluation.refit`` (the default) each seed run is then trained
again on the training and validation splits together, for the median of the epochs the seeds'
validation chose, keeping the average of its last quarter's weights, and that model is scored
and kept: the validation part, for a forecaster the most recent years before the test, is not
left out of the final model. With ``evaluation.ensemble`` the seed runs' models are also
averaged into one (``SeedEnsemble``), scored on the test split, and kept as the study's model.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
import torch

from service.models import SeedEnsemble, SequenceModel
from service.schemas import EnsemblePublic, EvaluationRun, MetricSpread, SeedSummary
from service.tasks import TaskData
from service.training import EpochResult, Trainer
from service.tuning._objective import build_model, build_train_config, load_task_data
from service.tuning._resolve import ResolvedStudy

__all__ = [
    "TailAverage", "best_hparams", "evaluate_best", "refit_and_test", "refit_epochs",
    "summarize_runs", "train_and_test",
]


def best_hparams(resolved: ResolvedStudy, params: dict[str, Any]) -> dict[str, Any]:
    """Every hyperparameter of a trial: its drawn ``params`` plus the space's fixed values."""
    values = resolved.space.suggest(optuna.trial.FixedTrial(params))
    return resolved.space.resolve(values)


def train_and_test(
    resolved: ResolvedStudy,
    hp: dict[str, Any],
    *,
    seed: int,
    device: torch.device,
    should_interrupt: Callable[[], bool] | None = None,
    on_model: Callable[[SequenceModel, TaskData], None] | None = None,
    data: TaskData | None = None,
) -> EvaluationRun | None:
    """Train ``hp`` with ``seed`` for the study's epochs, keep the best validation epoch, and
    score it on the test split. None when interrupted. ``on_model`` receives the model kept
    (in eval mode) and its data. ``data`` replaces the study's splits (another validation
    split of the selection step)."""
    started = time.perf_counter()
    metric = resolved.metric_key
    maximize = resolved.direction == "maximize"
    if data is None:
        data = load_task_data(resolved, device, hp)
    torch.manual_seed(seed)  # as the objective does, so the study's seed reproduces the trial
    model = build_model(hp, data).to(device)
    config = build_train_config(hp, max_epochs=resolved.spec.budget.max_epochs, seed=seed,
                                device=device)
    trainer = Trainer(model, config, kind=data.kind, device=device,
                      target_scale=data.target_scale)
    best: dict[str, Any] = {}

    def keep_best(result: EpochResult) -> bool:
        value = result.val_metrics[metric]
        if math.isfinite(value) and (
            not best or (value > best["value"] if maximize else value < best["value"])
        ):
            best.update(value=value, epoch=result.epoch + 1, val=dict(result.val_metrics),
                        state={k: v.detach().clone() for k, v in model.state_dict().items()})
        return False

    outcome = trainer.fit(data.train, data.val, on_epoch_end=keep_best,
                          should_interrupt=should_interrupt)
    if outcome.status == "interrupted":
        return None
    if not best:
        return EvaluationRun(seed=seed, status="diverged",
                             duration_s=time.perf_counter() - started)
    model.load_state_dict(best["state"])
    test = {k: v for k, v in trainer.evaluate(data.test).items() if math.isfinite(v)}
    run = EvaluationRun(seed=seed, status="completed", best_epoch=best["epoch"],
                        val=best["val"], test=test, duration_s=time.perf_counter() - started)
    if on_model is not None:
        on_model(model, data)
    return run


def refit_and_test(
    resolved: ResolvedStudy,
    hp: dict[str, Any],
    stopped: EvaluationRun,
    *,
    epochs: int,
    data: TaskData,
    device: torch.device,
    should_interrupt: Callable[[], bool] | None = None,
) -> tuple[EvaluationRun, SequenceModel | None] | None:
    """Train ``hp`` again with the stopped run's seed on ``data``'s training and validation
    splits together, for ``epochs`` (validation cannot choose them any more: see
    ``refit_epochs``), and keep the average of the weights of its last quarter of epochs
    (``TailAverage``); score it on the test split. Returns the run with that test score (the
    stopped model's moves to ``stopped_test``, the last epoch's unaveraged to
    ``last_epoch_test``) and the refit model. A refit that diverges keeps the stopped run's
    scores (model None); None when interrupted."""
    started = time.perf_counter()
    merged = data.validation_in_training()
    torch.manual_seed(stopped.seed)
    model = build_model(hp, merged, penalty_from=data).to(device)
    config = build_train_config(hp, max_epochs=epochs, seed=stopped.seed, device=device)
    trainer = Trainer(model, config, kind=data.kind, device=device,
                      target_scale=data.target_scale)
    tail = TailAverage(model, epochs=epochs)
    outcome = trainer.fit(merged.train, merged.val, on_epoch_end=tail.add,
                          should_interrupt=should_interrupt)
    duration = (stopped.duration_s or 0.0) + time.perf_counter() - started
    if outcome.status == "interrupted":
        return None
    last = {k: v for k, v in trainer.evaluate(data.test).items() if math.isfinite(v)}
    if outcome.status == "completed":
        tail.load_into(model)
    test = {k: v for k, v in trainer.evaluate(data.test).items() if math.isfinite(v)}
    if outcome.status != "completed" or not test:
        return stopped.model_copy(update={"refit": "diverged", "refit_epochs": epochs,
                                          "duration_s": duration}), None
    model.eval()
    run = stopped.model_copy(update={
        "refit": "completed", "refit_epochs": epochs, "test": test,
        "stopped_test": stopped.test, "last_epoch_test": last, "duration_s": duration})
    return run, model


class TailAverage:
    """The running mean of a model's floating-point weights over the last quarter of its
    ``epochs`` (at least the last epoch), taken at the end of each. At a constant learning
    rate the weights wander around a minimum from epoch to epoch, and the test error of the
    last epoch's with them; their average sits nearer its centre (Polyak averaging; SWA,
    Izmailov et al. 2018). Other entries (integer buffers) keep the last epoch's values."""

    def __init__(self, model: torch.nn.Module, *, epochs: int) -> None:
        self._model = model
        self._first = epochs - max(1, epochs // 4)
        self._sum: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, result: EpochResult) -> bool:
        """An epoch-end callback: adds the weights of epochs in the tail; never stops."""
        if result.epoch >= self._first:
            self.count += 1
            for name, value in self._model.state_dict().items():
                if value.is_floating_point():
                    value = value.detach().double()
                    self._sum[name] = self._sum[name] + value if name in self._sum else value
        return False

    def load_into(self, model: torch.nn.Module) -> None:
        """Replace ``model``'s floating-point weights by their mean over the tail."""
        if not self.count:
            return
        state = model.state_dict()
        for name, total in self._sum.items():
            state[name] = (total / self.count).to(state[name].dtype)
        model.load_state_dict(state)


def summarize_runs(metric: str, runs: Sequence[EvaluationRun]) -> SeedSummary:
    """Mean and sample standard deviation of every test metric over the runs that trained."""
    names = sorted({name for run in runs for name in run.test})
    spreads = {name: _spread([run.test.get(name) for run in runs]) for name in names}
    main = spreads.get(metric, MetricSpread(values=[None] * len(runs)))
    return SeedSummary(
        metric=f"test_{metric}", seeds=[run.seed for run in runs], mean=main.mean,
        std=main.std, values=main.values, metrics=spreads,
        diverged=sum(run.status == "diverged" for run in runs),
    )


def _spread(values: list[float | None]) -> MetricSpread:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    mean = statistics.fmean(finite) if finite else None
    std = statistics.stdev(finite) if len(finite) > 1 else (0.0 if finite else None)
    return MetricSpread(mean=mean, std=std, values=values)


def _test_metrics(resolved: ResolvedStudy, hp: dict[str, Any], model: torch.nn.Module,
                  data: TaskData, device: torch.device) -> dict[str, float]:
    # The trainer's own evaluation: the same batching, units and metrics as every seed run.
    config = build_train_config(hp, max_epochs=1, seed=resolved.spec.seed, device=device)
    trainer = Trainer(model, config, kind=data.kind, device=device,
                      target_scale=data.target_scale)
    return {k: v for k, v in trainer.evaluate(data.test).items() if math.isfinite(v)}


def refit_epochs(runs: Sequence[EvaluationRun]) -> int | None:
    """The epochs every refit trains: the median (the lower middle) of the epochs the seeds'
    validation chose, None when no run completed. One seed's validation curve is noisy (a run
    whose first epoch happened to score best would refit one epoch); the seeds together
    estimate what the configuration needs."""
    chosen = [run.best_epoch for run in runs if run.status == "completed" and run.best_epoch]
    return statistics.median_low(chosen) if chosen else None


def _refit_all(
    resolved: ResolvedStudy,
    hp: dict[str, Any],
    runs: list[EvaluationRun],
    models: dict[int, SequenceModel],
    kept: dict[str, TaskData],
    *,
    device: torch.device,
    should_interrupt: Callable[[], bool] | None,
    reuse_models: Mapping[int, SequenceModel] | None,
) -> list[EvaluationRun] | None:
    """Refit every completed run for ``refit_epochs``; ``models`` then holds the refit models
    (a diverged refit: the stopped one). None when interrupted."""
    epochs = refit_epochs(runs)
    if epochs is None:
        return runs
    data = load_task_data(resolved, device, hp)
    done: list[EvaluationRun] = []
    for run in runs:
        if run.status != "completed":
            done.append(run)
            continue
        refitted = refit_and_test(resolved, hp, run, epochs=epochs, data=data, device=device,
                                  should_interrupt=should_interrupt)
        if refitted is None:
            return None
        run, model = refitted
        if model is None and run.seed not in models:
            model = (reuse_models or {}).get(run.seed)
            if model is None:  # the selection's stopped model was not kept: train it again
                again = _stopped_model(resolved, hp, run.seed, device, should_interrupt)
                if again is None:
                    return None
                model = again[0]
        if model is not None:
            models[run.seed] = model
            kept["data"] = data
        done.append(run)
    return done


def _stopped_model(
    resolved: ResolvedStudy, hp: dict[str, Any], seed: int, device: torch.device,
    should_interrupt: Callable[[], bool] | None,
) -> tuple[SequenceModel | None] | None:
    """The model of ``seed``'s run stopped on validation, trained again; None when
    interrupted."""
    stopped: list[SequenceModel] = []
    run = train_and_test(resolved, hp, seed=seed, device=device,
                         should_interrupt=should_interrupt,
                         on_model=lambda model, _: stopped.append(model))
    if run is None:
        return None
    return (stopped[0] if stopped else None,)


def evaluate_best(
    resolved: ResolvedStudy,
    *,
    trial_number: int,
    params: dict[str, Any],
    seeds: Sequence[int],
    device: torch.device,
    should_interrupt: Callable[[], bool] | None = None,
    on_run: Callable[[EvaluationRun], None] | None = None,
    on_model: Callable[[SequenceModel | SeedEnsemble, TaskData], None] | None = None,
    reuse: Mapping[int, EvaluationRun] | None = None,
    reuse_models: Mapping[int, SequenceModel] | None = None,
) -> dict[str, Any] | None:
    """Evaluate the best trial's configuration: the fields of ``EvaluationPublic`` without its
    status, or None when interrupted. ``on_model`` receives the model to keep: the study's
    seed's (the first of ``seeds``) as scored on the test split, or with
    ``evaluation.ensemble`` the ensemble of every seed run that trained. ``reuse`` holds runs
    by seed that were already trained (the selection step's), taken instead of training them
    again, with their models in ``reuse_models`` (needed for an ensemble); the study's seed is
    always trained, since its model is kept."""
    hp = best_hparams(resolved, params)
    want_ensemble = resolved.spec.evaluation.ensemble and len(seeds) > 1
    refit = resolved.spec.evaluation.refit
    runs: list[EvaluationRun] = []
    models: dict[int, SequenceModel] = {}
    kept: dict[str, TaskData] = {}

    def keep(seed: int) -> Callable[[SequenceModel, TaskData], None]:
        def store(model: SequenceModel, data: TaskData) -> None:
            models[seed] = model
            kept["data"] = data
        return store

    # First every seed's run stopped on validation (the selection's where it trained one).
    for index, seed in enumerate(seeds):
        run = (reuse or {}).get(seed) if index else None
        if run is not None and want_ensemble and not refit:
            model = (reuse_models or {}).get(seed)
            if model is not None:
                models[seed] = model
            elif run.status == "completed":
                run = None  # its model is a member and was not kept: train it again
        if run is None:
            run = train_and_test(
                resolved, hp, seed=seed, device=device, should_interrupt=should_interrupt,
                on_model=keep(seed) if index == 0 or want_ensemble or refit else None)
        if run is None:
            return None
        runs.append(run)
    if refit:
        refitted = _refit_all(resolved, hp, runs, models, kept, device=device,
                              should_interrupt=should_interrupt, reuse_models=reuse_models)
        if refitted is None:
            return None
        runs = refitted
    for run in runs:
        if on_run is not None:
            on_run(run)
    first = runs[0]
    result: dict[str, Any] = {
        "trial": trial_number,
        "params": params,
        "test": first.test or None,
        "seeds": summarize_runs(resolved.metric_key, runs).model_dump(mode="json"),
        "runs": [run.model_dump(mode="json") for run in runs],
        "message": None if first.status == "completed" else
        f"the run with the study's seed {first.seed} diverged; see the other seeds",
    }
    # Members: the runs that trained (a diverged seed is left out, as from the spread).
    members = [run.seed for run in runs if run.status == "completed" and run.seed in models]
    if "data" not in kept:
        return result  # no run that was trained here completed: no model to keep
    data = kept["data"]
    if want_ensemble and len(members) > 1:
        ensemble = SeedEnsemble([models[seed] for seed in members],
                                classification=data.kind == "classification").to(device).eval()
        test = _test_metrics(resolved, hp, ensemble, data, device)
        result["ensemble"] = EnsemblePublic(seeds=members, test=test).model_dump(mode="json")
        if on_model is not None:
            on_model(ensemble, data)
    elif on_model is not None and seeds[0] in models:
        on_model(models[seeds[0]], data)
    return result
