"""The Optuna objective: suggest -> build model -> train, reporting each epoch -> decide."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import optuna
import torch

from service.models import SequenceModel, SequenceModelConfig
from service.tasks import TaskData
from service.training import EpochResult, TrainConfig, Trainer
from service.tuning._resolve import ResolvedStudy

__all__ = ["TrialOutcome", "load_task_data", "make_objective"]

# User attribute keys written on every trial; the API reads them back.
ATTR_EPOCHS = "epochs"
ATTR_PRUNE_REASON = "prune_reason"
ATTR_MESSAGE = "message"
ATTR_DEVICE = "device"
ATTR_WORKER = "worker"
ATTR_BEST_EPOCH = "best_epoch"


@dataclass(frozen=True)
class TrialOutcome:
    """How the last trial run by an objective ended (for worker logs)."""

    status: str
    value: float | None
    message: str = ""


@lru_cache(maxsize=4)
def _cached_task_data(task_name: str, options_json: str, seed: int, device: str) -> TaskData:
    from service.tasks import get_task, parse_task_options

    task = get_task(task_name)
    options = parse_task_options(task, json.loads(options_json))
    data = task.load(options, seed=seed)
    target = torch.device(device)
    return TaskData(
        train=data.train.to(target), val=data.val.to(target), test=data.test.to(target),
        input_size=data.input_size, output_size=data.output_size, kind=data.kind,
    )


def load_task_data(resolved: ResolvedStudy, device: torch.device) -> TaskData:
    """The study's data on ``device``; cached per process, since every trial reuses it."""
    options_json = json.dumps(resolved.task_options.model_dump(mode="json"), sort_keys=True)
    return _cached_task_data(resolved.task.name, options_json, resolved.spec.seed, str(device))


def build_model(hp: dict[str, Any], data: TaskData) -> SequenceModel:
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
    )
    return SequenceModel(config)


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
    on_outcome: Callable[[TrialOutcome], None] | None = None,
) -> Callable[[optuna.Trial], float]:
    """An objective for ``study.optimize`` that trains one configuration of ``resolved``."""
    spec = resolved.spec
    metric_key = resolved.metric_key
    better = min if resolved.direction == "minimize" else max

    def objective(trial: optuna.Trial) -> float:
        values = resolved.space.suggest(trial)
        hp = resolved.space.resolve(values)
        trial.set_user_attr(ATTR_DEVICE, str(device))
        trial.set_user_attr(ATTR_WORKER, worker)
        data = load_task_data(resolved, device)
        torch.manual_seed(spec.seed)
        model = build_model(hp, data).to(device)
        config = build_train_config(
            hp, max_epochs=spec.budget.max_epochs, seed=spec.seed, device=device
        )
        trainer = Trainer(model, config, kind=data.kind, device=device)
        epochs: list[dict[str, float | int]] = []

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
            trial.report(value, step)
            return trial.should_prune()

        outcome = trainer.fit(data.train, data.val, on_epoch_end=on_epoch_end)
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
        return best

    return objective


def _notify(callback: Callable[[TrialOutcome], None] | None, outcome: TrialOutcome) -> None:
    if callback is not None:
        callback(outcome)
