"""``SequenceModel``: nn.RNN / nn.LSTM / nn.GRU plus a linear head on the final hidden state or
on the outputs pooled over time."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ._config import SequenceModelConfig
from ._readout import pool
from ._resample import resample_flat

_RNN_CLASSES: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class SequenceModel(nn.Module):
    """A recurrent encoder whose last hidden state, or pooled outputs, feed a linear head.

    Input is batch first, (N, T, input_size); output is (N, output_size): regression values or
    class logits. With the ``last`` readout, when bidirectional, the head sees the forward state
    after the last valid step concatenated with the backward state after the first step. The
    pooling readouts (``mean``, ``max``, ``mean_max``) pool the last layer's outputs, both
    directions, over the valid steps of each sequence.

    Forecasting options, so that a forecaster contains the linear models it competes with:
    ``highway`` > 0 adds a linear map of the target feature's last ``highway`` steps to the
    output (the autoregressive highway of LSTNet, Lai et al. 2018; zero at init, so training
    starts from the recurrent model); ``residual`` adds the target's last value, so the network
    predicts the change from it; ``diff_inputs`` feeds each step's change beside the raw input.
    None of them bounds the output, so forecasts may leave the training range.

    Classification option, so that a classifier contains the linear model it competes with:
    ``linear_steps`` > 0 adds a linear path, a map of the input resampled to that many steps
    and flattened (the features of the logistic-regression baseline) to the logits. Its weights
    are fixed: :meth:`start_from_classifier` sets them to a fitted logistic regression and the
    network learns what that model misses.
    """

    def __init__(self, config: SequenceModelConfig) -> None:
        super().__init__()
        self.config = config
        kwargs: dict[str, Any] = {}
        if config.cell == "rnn":
            kwargs["nonlinearity"] = config.nonlinearity
        # nn.RNNBase warns about dropout with one layer, where it has nothing to act on.
        dropout = config.dropout if config.num_layers > 1 else 0.0
        self.rnn = _RNN_CLASSES[config.cell](
            input_size=config.input_size * (2 if config.diff_inputs else 1),
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=dropout,
            bidirectional=config.bidirectional,
            batch_first=True,
            **kwargs,
        )
        self.head = nn.Linear(config.readout_size, config.output_size)
        self.highway: nn.Linear | None = None
        if config.highway:
            self.highway = nn.Linear(config.highway, config.output_size)
            nn.init.zeros_(self.highway.weight)
            nn.init.zeros_(self.highway.bias)
        self.linear_path: nn.Linear | None = None
        if config.linear_steps:
            self.linear_path = nn.Linear(config.linear_steps * config.input_size,
                                         config.output_size)
            nn.init.zeros_(self.linear_path.weight)
            nn.init.zeros_(self.linear_path.bias)
            # Fixed: a fitted model, not a second head for the optimiser to overfit with.
            self.linear_path.requires_grad_(False)
        self._init_recurrent()

    def _init_recurrent(self) -> None:
        hidden = self.config.hidden_size
        with torch.no_grad():
            for name, param in self.rnn.named_parameters():
                if self.config.recurrent_init == "orthogonal" and name.startswith("weight_hh"):
                    # One orthogonal (hidden x hidden) block per gate, as in Saxe et al. 2014.
                    for block in torch.split(param, hidden, dim=0):
                        nn.init.orthogonal_(block)
                if self.config.cell == "lstm" and name.startswith("bias_"):
                    # Gate order is (input, forget, cell, output); the two bias vectors add up,
                    # so b_ih carries the whole forget bias and b_hh none of it.
                    forget = param[hidden : 2 * hidden]
                    forget.fill_(self.config.forget_bias if name.startswith("bias_ih") else 0.0)

    def start_from_linear(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """Set the highway to a fitted linear model ((output_size, highway) ``weight``, oldest
        step first) and zero the recurrent head, so training starts from that model's
        forecasts and the network learns what it misses (as in Zhang's 2003 hybrid)."""
        if self.highway is None:
            raise ValueError("the model has no highway (highway=0)")
        self._start_from(self.highway, weight, bias)

    def start_from_classifier(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """Set the linear path to a fitted linear classifier ((output_size, linear_steps *
        input_size) ``weight`` on the resampled, flattened raw input) and zero the recurrent
        head, so training starts from that classifier's logits."""
        if self.linear_path is None:
            raise ValueError("the model has no linear path (linear_steps=0)")
        self._start_from(self.linear_path, weight, bias)

    def _start_from(self, layer: nn.Linear, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """Copy a fitted linear model into ``layer`` and zero the recurrent head."""
        with torch.no_grad():
            layer.weight.copy_(weight.reshape(layer.weight.shape))
            layer.bias.copy_(bias.reshape(layer.bias.shape))
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Map (N, T, input_size) to (N, output_size).

        ``lengths`` (N,) gives each sequence's valid length for right-padded input; values
        past it never affect the result.
        """
        raw = x
        if self.config.diff_inputs:
            # The first step has no predecessor: its change is taken as zero.
            change = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)
            x = torch.cat([x, change], dim=2)
        if lengths is not None:
            # pack_padded_sequence wants lengths on the CPU; enforce_sorted=False keeps order.
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            outputs, hidden = self.rnn(packed)
        else:
            outputs, hidden = self.rnn(x)
        if self.config.readout == "last":
            if isinstance(hidden, tuple):  # LSTM returns (h_n, c_n)
                hidden = hidden[0]
            # h_n is (num_layers * num_directions, N, H); the last layer's directions come last.
            last = hidden[-self.config.num_directions :]
            features = torch.cat(list(last), dim=1)
        else:
            if lengths is not None:
                outputs, _ = pad_packed_sequence(outputs, batch_first=True,
                                                 total_length=x.shape[1])
            features = pool(outputs, lengths, self.config.readout)
        out: torch.Tensor = self.head(features)
        if self.highway is not None or self.config.residual:
            recent = _last_steps(raw[:, :, self.config.target_index], lengths,
                                 max(self.config.highway, 1))
            if self.highway is not None:
                out = out + self.highway(recent)
            if self.config.residual:
                out = out + recent[:, -1:]
        if self.linear_path is not None:
            out = out + self.linear_path(resample_flat(raw, lengths, self.config.linear_steps))
        return out

    def count_parameters(self) -> int:
        """Return the number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def _last_steps(series: torch.Tensor, lengths: torch.Tensor | None, k: int) -> torch.Tensor:
    """The last ``k`` valid values of each (N, T) row, oldest first; zeros before the start."""
    n, steps = series.shape
    if lengths is None and steps >= k:
        return series[:, steps - k :]
    ends = (torch.full((n,), steps, device=series.device) if lengths is None
            else lengths.to(series.device))
    index = ends[:, None] - k + torch.arange(k, device=series.device)[None, :]
    values = series.gather(1, index.clamp(min=0))
    return values.masked_fill(index < 0, 0.0)
