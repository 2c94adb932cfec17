"""Estimate the largest model a search space allows, and refuse spaces over the budget.

The estimate takes, for every size-related hyperparameter, the largest value the space allows
(the most gates: LSTM 4, GRU 3, RNN 1; bidirectional if it can be true; the ``mean_max`` readout,
whose head reads twice the features, if it can be chosen), so it bounds every trial the study
could run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.errors import SpecError
from service.spaces import CategoricalParam, FixedParam, FloatParam, IntParam, SearchSpace
from service.spaces import defaults as hp_defaults
from service.tuning._resolve import ResolvedStudy

__all__ = ["ModelSize", "check_model_size", "largest_model", "task_shape"]

_GATES = {"rnn": 1, "gru": 3, "lstm": 4}
_FLOAT_BYTES = 4
# Per step, training keeps each layer's gate pre-activations, gate outputs, cell and hidden
# state for the backward pass: about three gate-sized tensors per step and direction.
_SAVED_PER_GATE = 3


@dataclass(frozen=True)
class ModelSize:
    params: int
    activation_bytes: int
    setting: dict[str, Any]


def _largest(space: SearchSpace, name: str) -> Any:
    for param in space.params:
        if param.name != name:
            continue
        if isinstance(param, FixedParam):
            return param.value
        if isinstance(param, IntParam | FloatParam):
            return param.high
        if isinstance(param, CategoricalParam):
            if name == "cell":
                return max(param.choices, key=lambda c: _GATES.get(c, 0))
            if name == "bidirectional":
                return any(bool(c) for c in param.choices)
            if name == "readout":
                return "mean_max" if "mean_max" in param.choices else param.choices[0]
            return max(param.choices)
    return hp_defaults()[name]


def largest_model(space: SearchSpace, *, input_size: int, output_size: int,
                  seq_len: int) -> ModelSize:
    cell = str(_largest(space, "cell"))
    hidden = int(_largest(space, "hidden_size"))
    layers = int(_largest(space, "num_layers"))
    directions = 2 if _largest(space, "bidirectional") else 1
    batch = int(_largest(space, "batch_size"))
    pooled = 2 if _largest(space, "readout") == "mean_max" else 1
    gates = _GATES[cell] * hidden
    params = 0
    layer_input = input_size
    for _ in range(layers):
        # Input and recurrent weights plus two bias vectors, per direction.
        params += directions * (gates * layer_input + gates * hidden + 2 * gates)
        layer_input = hidden * directions
    params += pooled * layer_input * output_size + output_size  # the head
    activations = (batch * seq_len * layers * directions * gates * _SAVED_PER_GATE
                   * _FLOAT_BYTES)
    setting = {"cell": cell, "hidden_size": hidden, "num_layers": layers,
               "bidirectional": directions == 2, "batch_size": batch, "seq_len": seq_len}
    return ModelSize(params=params, activation_bytes=activations, setting=setting)


def task_shape(resolved: ResolvedStudy) -> tuple[int, int, int]:
    """(input size, output size, longest sequence) of the study's task, without its data."""
    shape = getattr(resolved.task, "shape", None)
    if callable(shape):
        input_size, output_size, seq_len = shape(resolved.task_options)
        return int(input_size), int(output_size), int(seq_len)
    data = resolved.task.load(resolved.task_options, seed=resolved.spec.seed)
    return data.input_size, data.output_size, int(data.train.x.shape[1])


def longest_sequence(resolved: ResolvedStudy, task_seq_len: int) -> int:
    """The longest input a trial can get: a forecasting window the space searches sets the
    sequence length of its trials, whatever the task's own window option says."""
    searches_window = any(p.name == "window" for p in resolved.space.params)
    if searches_window and "window" in getattr(resolved.task, "data_params", ()):
        return max(task_seq_len, int(_largest(resolved.space, "window")))
    return task_seq_len


def check_model_size(
    resolved: ResolvedStudy, *, max_seq_len: int, max_params: int, max_activation_bytes: int
) -> ModelSize:
    input_size, output_size, seq_len = task_shape(resolved)
    seq_len = longest_sequence(resolved, seq_len)
    if seq_len > max_seq_len:
        raise SpecError(
            f"sequences of length {seq_len} exceed the limit of {max_seq_len}",
            loc=("task",),
        )
    size = largest_model(resolved.space, input_size=input_size, output_size=output_size,
                         seq_len=seq_len)
    causes = ", ".join(f"{k}={v}" for k, v in size.setting.items())
    if size.params > max_params:
        raise SpecError(
            f"the largest model this space allows has {size.params:,} parameters ({causes}), "
            f"more than the limit of {max_params:,}; lower hidden_size or num_layers",
            loc=("search_space", "params"),
        )
    if size.activation_bytes > max_activation_bytes:
        raise SpecError(
            f"the largest model and batch this space allows need about "
            f"{size.activation_bytes / 2**30:.1f} GiB of activations to train ({causes}), "
            f"more than the limit of {max_activation_bytes / 2**30:.1f} GiB; lower "
            "batch_size, hidden_size, num_layers or the sequence length",
            loc=("search_space", "params"),
        )
    return size
