"""The hyperparameters a search space may tune, with their types, bounds and defaults.

This is the single list the space compiler validates against and the objective builds models
and optimisers from; a name not listed here is rejected at submit time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["CATALOG", "HParam", "defaults"]

ValueKind = Literal["int", "float", "categorical", "bool"]


@dataclass(frozen=True)
class HParam:
    """One tunable hyperparameter. ``low``/``high`` are inclusive bounds of legal values."""

    kind: ValueKind
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    low_exclusive: bool = False
    choices: tuple[Any, ...] = ()
    # The task kinds it applies to; empty: every kind.
    task_kinds: tuple[str, ...] = ()

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not legal for this hyperparameter, or None when it is."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"{value!r} is not a boolean"
        if self.kind == "categorical":
            if value in self.choices and not isinstance(value, bool):
                return None
            return f"{value!r} is not one of {list(self.choices)}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{value!r} is not a number"
        if self.kind == "int" and isinstance(value, float) and not value.is_integer():
            return f"{value!r} is not an integer"
        if self.low is not None:
            too_low = value <= self.low if self.low_exclusive else value < self.low
            if too_low:
                bound = ">" if self.low_exclusive else ">="
                return f"{value!r} is out of range; it must be {bound} {self.low:g}"
        if self.high is not None and value > self.high:
            return f"{value!r} is out of range; it must be <= {self.high:g}"
        return None


CATALOG: dict[str, HParam] = {
    "cell": HParam("categorical", "lstm", "recurrent cell", choices=("rnn", "lstm", "gru")),
    "nonlinearity": HParam(
        "categorical", "tanh", "activation of the plain RNN cell", choices=("tanh", "relu")
    ),
    "hidden_size": HParam("int", 64, "units per layer and direction", low=1, high=4096),
    "num_layers": HParam("int", 1, "stacked recurrent layers", low=1, high=8),
    "bidirectional": HParam("bool", False, "read the sequence in both directions"),
    "dropout": HParam("float", 0.0, "dropout between stacked layers", low=0.0, high=0.95),
    "lr": HParam("float", 1e-3, "learning rate", low=0.0, high=10.0, low_exclusive=True),
    "optimizer": HParam(
        "categorical",
        "adam",
        "optimiser",
        choices=("adam", "adamw", "sgd", "rmsprop", "nadam"),
    ),
    "momentum": HParam("float", 0.9, "momentum of sgd and rmsprop", low=0.0, high=0.999),
    "weight_decay": HParam("float", 0.0, "L2 weight decay", low=0.0, high=1.0),
    "batch_size": HParam("int", 64, "sequences per gradient step", low=1, high=65536),
    "grad_clip": HParam(
        "float", 1.0, "max global gradient norm; 0 disables clipping", low=0.0, high=1e6
    ),
    "forget_bias": HParam("float", 1.0, "LSTM forget-gate bias at init", low=-10.0, high=10.0),
    "recurrent_init": HParam(
        "categorical",
        "default",
        "initialisation of the recurrent weights",
        choices=("default", "orthogonal"),
    ),
    "readout": HParam(
        "categorical",
        "last",
        "what the head reads: the last hidden state, or every step's output pooled over the "
        "sequence (mean, max, or both)",
        choices=("last", "mean", "max", "mean_max"),
    ),
    "highway": HParam(
        "int", 0, "forecasting: steps of the target's past in a linear highway added to the "
        "output (LSTNet); 0 turns it off", low=0, high=1000, task_kinds=("forecasting",),
    ),
    "residual": HParam(
        "bool", False, "forecasting: predict the change from the target's last value",
        task_kinds=("forecasting",),
    ),
    "diff_inputs": HParam(
        "bool", False, "forecasting: feed each step's change beside the raw input",
        task_kinds=("forecasting",),
    ),
    "seasonal_inputs": HParam(
        "bool", False, "forecasting: feed the position in the season (sin and cos of 2 pi "
        "position / season) as two more inputs; needs a data set whose time column gives a "
        "season (monthly, quarterly, daily, hourly)", task_kinds=("forecasting",),
    ),
    "linear_path": HParam(
        "bool", False, "classification: add a logistic regression on the resampled, flattened "
        "sequence, fitted on the training split before training and kept fixed, to the "
        "network's logits, so that the network learns what the linear model misses",
        task_kinds=("classification",),
    ),
    "window": HParam(
        "int",
        None,
        "input window of a forecasting task, in time steps (default: the task's window option)",
        low=1,
        high=1000,
        task_kinds=("forecasting",),
    ),
}


def defaults() -> dict[str, Any]:
    """Value of every hyperparameter that a space leaves out (``window`` has none: a task
    without it in the space uses its own option)."""
    return {name: spec.default for name, spec in CATALOG.items() if spec.default is not None}
