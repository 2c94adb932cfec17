"""The Optuna objective: suggest -> build model -> train, reporting each epoch -> decide."""

from __future__ import annotations

import io
import json
import math
import statistics
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import optuna
import torch
from sqlalchemy.exc import OperationalError

from service.errors import TransientError
from service.models import SequenceModel, SequenceModelConfig
from service.tasks import TaskData
from service.tasks._baselines import LogisticFit, fit_logistic, flat_series, target_index
from service.training import EpochResult, TrainConfig, Trainer
from service.trial_attrs import (
    ATTR_BEST_EPOCH,
    ATTR_CHECKPOINT_KEY,
    ATTR_DEVICE,
    ATTR_EPOCHS,
    ATTR_LATENCY_MS,
    ATTR_MESSAGE,
    ATTR_N_PARAMS,
    ATTR_PRUNE_REASON,
    ATTR_RESUMED_FROM,
    ATTR_WORKER,
)
from service.tuning._resolve import ResolvedStudy

__all__ = [
    "CheckpointSink",
    "TrialInterrupted",
    "TrialOutcome",
    "load_task_data",
    "make_objective",
]



class CheckpointSink(Protocol):
    """Where epoch checkpoints go; the worker passes the database-backed store."""

    def save(self, *, key: str, study_id: int, epoch: int, state: bytes) -> None: ...

    def load(self, key: str) -> Any: ...

    def delete(self, key: str) -> None: ...


class TrialInterrupted(Exception):
    """The worker is stopping: the trial's last checkpoint is saved and it is handed back."""

    def __init__(self, trial_number: int, epoch: int) -> None:
        super().__init__(f"trial {trial_number} interrupted; resumes after epoch {epoch}")
        self.trial_number = trial_number
        self.epoch = epoch


@dataclass(frozen=True)
class TrialOutcome:
    """How the last trial run by an objective ended (for worker logs)."""

    status: str
    value: float | None
    message: str = ""


_TASK_DATA: OrderedDict[tuple[Any, ...], TaskData] = OrderedDict()
_TASK_DATA_SIZE = 4
# Fitted linear paths, (id(data), steps, given penalty) -> (data, fit); the data object is
# kept so that its id cannot be reused while the entry lives.
_LINEAR_FITS: OrderedDict[tuple[int, int, float | None], tuple[TaskData, LogisticFit]] = (
    OrderedDict())
# A classifier's linear path reads at most this many resampled steps of each sequence.
_LINEAR_PATH_MAX_STEPS = 128


def load_task_data(
    resolved: ResolvedStudy, device: torch.device, hp: dict[str, Any] | None = None
) -> TaskData:
    """The study's data on ``device``; cached per process, since every trial reuses it.

    ``hp`` supplies the hyperparameters that shape the data (a forecasting window).
    """
    task = resolved.task
    data_hp = {name: (hp or {}).get(name) for name in task.data_params}
    key = (
        task.cache_key,
        json.dumps(resolved.task_options.model_dump(mode="json"), sort_keys=True),
        resolved.spec.seed,
        str(device),
        json.dumps(data_hp, sort_keys=True),
    )
    data = _TASK_DATA.get(key)
    if data is None:
        data = task.load(resolved.task_options, seed=resolved.spec.seed, hparams=data_hp)
        data = data.to(device)
        _TASK_DATA[key] = data
        while len(_TASK_DATA) > _TASK_DATA_SIZE:
            _TASK_DATA.popitem(last=False)
    _TASK_DATA.move_to_end(key)
    return data


def build_model(
    hp: dict[str, Any], data: TaskData, *, penalty_from: TaskData | None = None
) -> SequenceModel:
    """The model of ``hp``, its linear parts started from their least-squares or logistic fit
    on ``data.train``. A refit on training plus validation passes the original splits as
    ``penalty_from``: the linear path keeps the penalty their validation split chose."""
    config = SequenceModelConfig(
        cell=hp["cell"],
        input_size=data.input_size,
        output_size=data.output_size,
        hidden_size=int(hp["hidden_size"]),
        num_layers=int(hp["num_layers"]),
        nonlinearity=hp["nonlinearity"],
        bidirectional=bool(hp["bidirectional"]),
        dropout=float(hp["dropout"]),
        forget_bias=float(hp["forget_bias"]),
        recurrent_init=hp["recurrent_init"],
        readout=hp["readout"],
        target_index=target_index(data),
        highway=int(hp.get("highway") or 0),
        residual=bool(hp.get("residual", False)),
        diff_inputs=bool(hp.get("diff_inputs", False)),
        linear_steps=linear_path_steps(data) if hp.get("linear_path") else 0,
    )
    model = SequenceModel(config)
    if config.highway and data.train.n > config.highway:
        model.start_from_linear(*_fit_highway(data, config))
    if config.linear_steps:
        penalty = None
        if penalty_from is not None:
            penalty = _fit_linear_path(penalty_from, config.linear_steps).penalty
        fit = _fit_linear_path(data, config.linear_steps, penalty=penalty)
        model.start_from_classifier(fit.weight, fit.bias)
    return model


def linear_path_steps(data: TaskData) -> int:
    """Steps a classifier's linear path resamples each sequence to: the training split's
    longest, at most ``_LINEAR_PATH_MAX_STEPS`` (a bound on its weights for long series)."""
    return max(1, min(int(data.train.x.shape[1]), _LINEAR_PATH_MAX_STEPS))


def _fit_linear_path(data: TaskData, steps: int, *, penalty: float | None = None) -> LogisticFit:
    """The logistic-regression baseline's fit on the training split (penalty chosen on the
    validation split, or ``penalty`` when given): the linear classifier the model starts from
    and keeps. Kept per data object, as the data are: every trial of a study on one worker
    fits it once."""
    key = (id(data), steps, penalty)
    kept = _LINEAR_FITS.get(key)
    if kept is not None and kept[0] is data:
        _LINEAR_FITS.move_to_end(key)  # least recently used goes first, as for the data
        return kept[1]
    train, val = (flat_series(s, steps) for s in (data.train, data.val))
    fit = fit_logistic(train, data.train.y.cpu().numpy(), data.output_size, val, data.val.y.cpu(),
                       **({} if penalty is None else {"penalties": (penalty,)}))
    fit = LogisticFit(fit.weight.float(), fit.bias.float(), fit.penalty)
    _LINEAR_FITS[key] = (data, fit)
    while len(_LINEAR_FITS) > _TASK_DATA_SIZE:
        _LINEAR_FITS.popitem(last=False)
    return fit


def _fit_highway(data: TaskData, config: SequenceModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Least squares of the training targets on the target's last ``highway`` steps (what the
    residual adds taken off first): the AR model the forecaster starts from."""
    past = data.train.x[:, :, config.target_index].double().cpu()
    steps = past.shape[1]
    lags = past[:, max(0, steps - config.highway):]
    if lags.shape[1] < config.highway:  # a window shorter than the highway: zeros before it
        lags = torch.cat([lags.new_zeros(lags.shape[0], config.highway - lags.shape[1]), lags], 1)
    target = data.train.y.double().cpu()
    if config.residual:
        target = target - past[:, -1:]
    design = torch.cat([lags, torch.ones(lags.shape[0], 1, dtype=torch.float64)], dim=1)
    coef = torch.linalg.lstsq(design, target).solution  # (highway + 1, output_size)
    return coef[:-1].T.float(), coef[-1].float()



def build_train_config(
    hp: dict[str, Any], *, max_epochs: int, seed: int, device: torch.device
) -> TrainConfig:
    clip = float(hp["grad_clip"])
    return TrainConfig(
        max_epochs=max_epochs,
        lr=float(hp["lr"]),
        optimizer=hp["optimizer"],
        momentum=float(hp["momentum"]),
        weight_decay=float(hp["weight_decay"]),
        batch_size=int(hp["batch_size"]),
        grad_clip=clip if clip > 0 else None,
        seed=seed,
        amp=device.type == "cuda",
    )


def make_objective(
    resolved: ResolvedStudy,
    *,
    device: torch.device,
    worker: str,
    study_id: int,
    device_label: str | None = None,
    checkpoints: CheckpointSink | None = None,
    checkpoint_every: int = 1,
    should_interrupt: Callable[[], bool] | None = None,
    on_outcome: Callable[[TrialOutcome], None] | None = None,
) -> Callable[[optuna.Trial], float]:
    """An objective for ``study.optimize`` that trains one configuration of ``resolved``.

    With ``checkpoints`` it saves the trainer every ``checkpoint_every`` epochs under a key kept
    in the trial's user attributes; a retry inherits the key and resumes after that epoch.
    When ``should_interrupt`` turns true it stops between batches and raises
    ``TrialInterrupted`` so that the worker can hand the trial back.
    """
    spec = resolved.spec
    metric_key = resolved.metric_key
    better = min if resolved.direction == "minimize" else max

    def objective(trial: optuna.Trial) -> float:
        values = resolved.space.suggest(trial)
        hp = resolved.space.resolve(values)
        trial.set_user_attr(ATTR_DEVICE, device_label or str(device))
        trial.set_user_attr(ATTR_WORKER, worker)
        data = load_task_data(resolved, device, hp)
        torch.manual_seed(spec.seed)
        model = build_model(hp, data).to(device)
        config = build_train_config(
            hp, max_epochs=spec.budget.max_epochs, seed=spec.seed, device=device
        )
        trainer = Trainer(model, config, kind=data.kind, device=device,
                          target_scale=data.target_scale)
        epochs: list[dict[str, float | int]] = []
        key = str(trial.user_attrs.get(ATTR_CHECKPOINT_KEY) or uuid.uuid4().hex)
        if checkpoints is not None:
            trial.set_user_attr(ATTR_CHECKPOINT_KEY, key)
            resumed = _resume(trainer, checkpoints, key, device)
            if resumed:
                # The retry inherited the epoch log; keep what the checkpoint covers.
                epochs = list(trial.user_attrs.get(ATTR_EPOCHS, []))[:resumed]
                trial.set_user_attr(ATTR_RESUMED_FROM, resumed)

        def on_epoch_end(result: EpochResult) -> bool:
            value = result.val_metrics[metric_key]
            step = result.epoch + 1  # steps count finished epochs: the pruners' resource
            epochs.append({
                "epoch": step,
                "value": value,
                "train_loss": result.train_loss,
                "grad_norm_mean": result.grad_norm_mean,
                "grad_norm_max": result.grad_norm_max,
            })
            trial.set_user_attr(ATTR_EPOCHS, epochs)
            if not math.isfinite(value):
                return False  # the trainer ends a diverged run itself
            if checkpoints is not None and step % checkpoint_every == 0 and (
                step < spec.budget.max_epochs
            ):
                # Saved before the report: a retry never re-reports an epoch it has.
                checkpoints.save(key=key, study_id=study_id, epoch=step,
                                 state=_serialize(trainer.state_dict()))
            if resolved.multi_objective:
                return False  # Optuna prunes on one objective only; none is reported
            trial.report(value, step)
            return trial.should_prune()

        try:
            outcome = trainer.fit(data.train, data.val, on_epoch_end=on_epoch_end,
                                  should_interrupt=should_interrupt)
        except Exception as error:
            if checkpoints is not None and not _storage_fault(error):
                checkpoints.delete(key)  # a failed trial is final; its checkpoint is garbage
            raise  # a database fault is not: the worker hands the trial back to resume
        if outcome.status == "interrupted":
            raise TrialInterrupted(trial.number, trainer.epoch)
        if checkpoints is not None:
            checkpoints.delete(key)  # the trial is over; only a handed-back one needs it
        if outcome.status == "diverged":
            trial.set_user_attr(ATTR_PRUNE_REASON, "diverged")
            trial.set_user_attr(ATTR_MESSAGE, outcome.message)
            _notify(on_outcome, TrialOutcome("pruned", None, outcome.message))
            raise optuna.TrialPruned(outcome.message)
        if outcome.status == "stopped":
            message = f"pruned after epoch {len(outcome.epochs)}"
            trial.set_user_attr(ATTR_PRUNE_REASON, "pruner")
            trial.set_user_attr(ATTR_MESSAGE, message)
            _notify(on_outcome, TrialOutcome("pruned", None, message))
            raise optuna.TrialPruned(message)
        scores = [e.val_metrics[metric_key] for e in outcome.epochs]
        best = better(scores)
        trial.set_user_attr(ATTR_BEST_EPOCH, scores.index(best) + 1)
        _notify(on_outcome, TrialOutcome("complete", best))
        costs = _costs(trial, model, data, device, resolved)
        if resolved.multi_objective:
            return (best, *(costs[name] for name in spec.also_minimize))  # type: ignore[return-value]
        return best

    return objective


def _costs(trial: optuna.Trial, model: SequenceModel, data: TaskData, device: torch.device,
           resolved: ResolvedStudy) -> dict[str, float]:
    """Parameter count and, when asked for, inference latency; constraints from them."""
    spec = resolved.spec
    costs = {"params": float(model.count_parameters())}
    trial.set_user_attr(ATTR_N_PARAMS, int(costs["params"]))
    if "latency_ms" in spec.also_minimize or spec.constraints.max_latency_ms is not None:
        costs["latency_ms"] = measure_latency_ms(model, data.val, device)
        trial.set_user_attr(ATTR_LATENCY_MS, costs["latency_ms"])
    # Optuna 5 constraints: feasible when every value is <= 0.
    if spec.constraints.max_params is not None:
        trial.set_constraint("max_params", costs["params"] - spec.constraints.max_params)
    if spec.constraints.max_latency_ms is not None:
        trial.set_constraint("max_latency_ms",
                             costs["latency_ms"] - spec.constraints.max_latency_ms)
    return costs


def measure_latency_ms(model: SequenceModel, split: Any, device: torch.device,
                       *, batch: int = 64, repeats: int = 5) -> float:
    """Median inference time per sequence, in ms, over a batch of validation sequences."""
    x = split.x[:batch].to(device)
    lengths = None if split.lengths is None else split.lengths[:batch]
    model.eval()
    timings = []
    with torch.no_grad():
        model(x, lengths)  # warm-up
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            started = time.perf_counter()
            model(x, lengths)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            timings.append((time.perf_counter() - started) * 1000 / x.shape[0])
    model.train()
    return float(statistics.median(timings))


def _serialize(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _resume(
    trainer: Trainer, checkpoints: CheckpointSink, key: str, device: torch.device
) -> int:
    """Load the lineage's checkpoint into ``trainer``; return its epoch (0 when none)."""
    checkpoint = checkpoints.load(key)
    if checkpoint is None:
        return 0
    # weights_only: a checkpoint is tensors and numbers, never arbitrary pickled objects.
    state = torch.load(io.BytesIO(checkpoint.state), map_location=device, weights_only=True)
    trainer.load_state_dict(state)
    return int(checkpoint.epoch)


def _storage_fault(error: BaseException) -> bool:
    return isinstance(
        error, (TransientError, optuna.exceptions.StorageInternalError, OperationalError))


def _notify(callback: Callable[[TrialOutcome], None] | None, outcome: TrialOutcome) -> None:
    if callback is not None:
        callback(outcome)
