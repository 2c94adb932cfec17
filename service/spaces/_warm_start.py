"""Configurations worth trying first: well-known good defaults per recurrent cell."""

from __future__ import annotations

from typing import Any

from service.spaces._params import CategoricalParam, FixedParam
from service.spaces._space import SearchSpace

__all__ = ["BEST_PRACTICE", "best_practice_trials"]

# Adam at 1e-3 with the gradient norm clipped at 1 is the usual safe start for recurrent
# nets; an LSTM wants its forget-gate bias at 1 (Jozefowicz et al. 2015), a plain RNN an
# orthogonal recurrent matrix.
_COMMON: dict[str, Any] = {"optimizer": "adam", "lr": 1e-3, "grad_clip": 1.0,
                           "weight_decay": 0.0, "num_layers": 1, "dropout": 0.0}
BEST_PRACTICE: dict[str, dict[str, Any]] = {
    "lstm": {**_COMMON, "cell": "lstm", "forget_bias": 1.0},
    "gru": {**_COMMON, "cell": "gru"},
    "rnn": {**_COMMON, "cell": "rnn", "nonlinearity": "tanh", "recurrent_init": "orthogonal"},
}


def _cells(space: SearchSpace) -> list[str]:
    for param in space.params:
        if param.name == "cell":
            if isinstance(param, FixedParam):
                return [str(param.value)]
            if isinstance(param, CategoricalParam):
                return [str(c) for c in param.choices]
    return ["lstm"]  # the catalog default


def best_practice_trials(space: SearchSpace) -> list[tuple[dict[str, Any], list[str]]]:
    """One configuration per cell the space allows, moved into the space's ranges."""
    trials = []
    for cell in _cells(space):
        params, notes = space.fit_params(BEST_PRACTICE[cell], clamp=True)
        notes = [n for n in notes if not n.startswith("not in this space")]
        if params:
            trials.append((params, notes))
    return trials
