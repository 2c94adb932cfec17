"""Configuration of a recurrent sequence model, validated on construction."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

CellType = Literal["rnn", "lstm", "gru"]
Nonlinearity = Literal["tanh", "relu"]
RecurrentInit = Literal["default", "orthogonal"]
Readout = Literal["last", "mean", "max", "mean_max"]

CELLS: tuple[CellType, ...] = ("rnn", "lstm", "gru")
_NONLINEARITIES = ("tanh", "relu")
_RECURRENT_INITS = ("default", "orthogonal")
READOUTS: tuple[Readout, ...] = ("last", "mean", "max", "mean_max")


@dataclass(frozen=True)
class SequenceModelConfig:
    """What :class:`SequenceModel` builds.

    ``nonlinearity`` applies to the plain RNN only and ``forget_bias`` (the initial forget-gate
    bias) to the LSTM only; both are ignored for the other cells, as ``dropout`` (between
    stacked layers) is with one layer. ``recurrent_init="orthogonal"`` makes each gate block of
    the hidden-to-hidden weights orthogonal.

    ``readout`` is what the head reads: ``last``, the final hidden state (of both directions
    when bidirectional); ``mean``, ``max`` or ``mean_max`` (both, concatenated), the last
    layer's outputs pooled over each sequence's valid steps.

    ``linear_steps`` > 0 gives a classifier a linear path: a fixed linear map of the input
    resampled to that many steps and flattened, added to the logits (see ``SequenceModel``).
    """

    cell: CellType
    input_size: int
    output_size: int
    hidden_size: int = 64
    num_layers: int = 1
    nonlinearity: Nonlinearity = "tanh"
    bidirectional: bool = False
    dropout: float = 0.0
    forget_bias: float = 1.0
    recurrent_init: RecurrentInit = "default"
    readout: Readout = "last"
    # Forecasting options (see ``SequenceModel``): which input feature is the forecast target,
    # a linear autoregressive highway over its last ``highway`` steps (LSTNet), predicting the
    # change from its last value, and first differences fed beside the raw input.
    target_index: int = 0
    highway: int = 0
    residual: bool = False
    diff_inputs: bool = False
    linear_steps: int = 0

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}; valid cells are: {', '.join(CELLS)}")
        for field in ("input_size", "output_size", "hidden_size", "num_layers"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field} must be a positive integer, got {value!r}")
        if self.nonlinearity not in _NONLINEARITIES:
            raise ValueError(
                f"unknown nonlinearity {self.nonlinearity!r}; valid: {', '.join(_NONLINEARITIES)}"
            )
        if not isinstance(self.bidirectional, bool):
            raise ValueError(f"bidirectional must be a bool, got {self.bidirectional!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        if not math.isfinite(self.forget_bias):
            raise ValueError(f"forget_bias must be finite, got {self.forget_bias!r}")
        if self.recurrent_init not in _RECURRENT_INITS:
            raise ValueError(
                f"unknown recurrent_init {self.recurrent_init!r}; "
                f"valid: {', '.join(_RECURRENT_INITS)}"
            )
        if self.readout not in READOUTS:
            raise ValueError(
                f"unknown readout {self.readout!r}; valid: {', '.join(READOUTS)}"
            )
        for field in ("target_index", "highway", "linear_steps"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{field} must be a non-negative integer, got {value!r}")
        if self.target_index >= self.input_size:
            raise ValueError(
                f"target_index {self.target_index} is not an input feature; the input has "
                f"{self.input_size}"
            )
        for field in ("residual", "diff_inputs"):
            if not isinstance(getattr(self, field), bool):
                raise ValueError(f"{field} must be a bool, got {getattr(self, field)!r}")

    @property
    def num_directions(self) -> int:
        """2 when bidirectional, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def readout_size(self) -> int:
        """Width of the features the head reads."""
        pooled = 2 if self.readout == "mean_max" else 1
        return pooled * self.hidden_size * self.num_directions
