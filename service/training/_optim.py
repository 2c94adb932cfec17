"""Optimizers by name."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

_Params = Iterable[torch.nn.Parameter]
_Factory = Callable[[_Params, float, float, float], torch.optim.Optimizer]

# Each factory takes (params, lr, weight_decay, momentum); momentum is used by sgd and rmsprop.
_OPTIMIZERS: dict[str, _Factory] = {
    "adam": lambda p, lr, wd, m: torch.optim.Adam(p, lr=lr, weight_decay=wd),
    "adamw": lambda p, lr, wd, m: torch.optim.AdamW(p, lr=lr, weight_decay=wd),
    "nadam": lambda p, lr, wd, m: torch.optim.NAdam(p, lr=lr, weight_decay=wd),
    "rmsprop": lambda p, lr, wd, m: torch.optim.RMSprop(p, lr=lr, weight_decay=wd, momentum=m),
    "sgd": lambda p, lr, wd, m: torch.optim.SGD(p, lr=lr, weight_decay=wd, momentum=m),
}

OPTIMIZERS: tuple[str, ...] = tuple(sorted(_OPTIMIZERS))


def build_optimizer(
    name: str,
    params: _Params,
    *,
    lr: float,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
) -> torch.optim.Optimizer:
    """Build the optimizer called ``name`` over ``params``.

    ``weight_decay`` is decoupled for ``adamw`` and an L2 term for the others; ``momentum``
    applies to ``sgd`` and ``rmsprop`` only.

    Raises:
        ValueError: ``name`` is unknown; the message lists the valid names.
    """
    try:
        factory = _OPTIMIZERS[name]
    except KeyError:
        raise ValueError(
            f"unknown optimizer {name!r}; valid optimizers are: {', '.join(OPTIMIZERS)}"
        ) from None
    return factory(params, lr, weight_decay, momentum)
