"""Temporal pooling of a recurrent layer's outputs over each sequence's valid steps.

The last hidden state must carry everything a classifier needs through the whole sequence;
pooling every step's output (mean, max, or both) gives the head each step directly, the
usual readout of time-series classifiers (the global average pooling of FCN and ResNet,
Wang et al. 2017). Padded steps never enter a mean or a max.
"""

from __future__ import annotations

import torch

__all__ = ["pool"]


def pool(outputs: torch.Tensor, lengths: torch.Tensor | None, readout: str) -> torch.Tensor:
    """Pool (N, T, D) ``outputs`` over time to (N, D), or (N, 2D) for ``mean_max`` (the mean
    first).

    ``lengths`` (N,) gives each row's valid steps (at least 1); the steps past it are left out
    whatever they hold. None: every step is valid.
    """
    if readout not in ("mean", "max", "mean_max"):
        raise ValueError(f"unknown pooling readout {readout!r}; valid: mean, max, mean_max")
    parts: list[torch.Tensor] = []
    if lengths is None:
        # No mask at all, so a traced model (TorchScript export) takes any sequence length.
        if readout in ("mean", "mean_max"):
            parts.append(outputs.mean(dim=1))
        if readout in ("max", "mean_max"):
            parts.append(outputs.amax(dim=1))
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
    steps = torch.arange(outputs.shape[1], device=outputs.device)
    lens = lengths.to(outputs.device)
    valid = (steps[None, :] < lens[:, None]).unsqueeze(-1)  # (N, T, 1)
    if readout in ("mean", "mean_max"):
        # masked_fill, not a product: padding holding inf or NaN must not leak in as 0 * inf.
        total = outputs.masked_fill(~valid, 0.0).sum(dim=1)
        parts.append(total / lens.clamp(min=1).to(outputs.dtype)[:, None])
    if readout in ("max", "mean_max"):
        parts.append(outputs.masked_fill(~valid, float("-inf")).amax(dim=1))
    return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
