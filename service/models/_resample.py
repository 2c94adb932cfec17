"""Each sequence resampled linearly to a fixed number of steps and flattened: the features of
the logistic-regression baseline and of a classifier's linear path, so that one reads a
sequence exactly as the other does."""

from __future__ import annotations

import torch

__all__ = ["resample_flat"]


def resample_flat(x: torch.Tensor, lengths: torch.Tensor | None, steps: int) -> torch.Tensor:
    """Map right-padded (N, T, F) ``x`` to (N, steps * F): each row's valid steps (``lengths``,
    all T when None) interpolated linearly at ``steps`` evenly spaced points from its first
    to its last valid step, then flattened step-major. Steps past a row's length are never
    read; a row of one step repeats it."""
    n, _, features = x.shape
    if lengths is None:
        # Counted from the tensor itself, so that a traced model takes any batch and length.
        valid = torch.ones_like(x[:, :, 0]).sum(dim=1)
    else:
        valid = lengths.to(device=x.device, dtype=x.dtype)
    grid = torch.linspace(0.0, 1.0, steps, device=x.device, dtype=x.dtype)
    position = grid[None, :] * (valid[:, None] - 1.0)  # (N, steps), within [0, length - 1]
    low = position.floor().long()
    high = torch.minimum(low + 1, (valid[:, None] - 1.0).long())
    weight = (position - low.to(x.dtype))[:, :, None]
    below = x.gather(1, low[:, :, None].expand(-1, -1, features))
    above = x.gather(1, high[:, :, None].expand(-1, -1, features))
    return (below * (1.0 - weight) + above * weight).reshape(n, steps * features)
