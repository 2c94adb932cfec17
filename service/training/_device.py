"""Turn a device string from a spec or the settings into a ``torch.device``."""

from __future__ import annotations

import re

import torch

_CUDA_INDEX = re.compile(r"cuda:(\d+)")


def resolve_device(spec: str) -> torch.device:
    """Resolve ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` to a device.

    ``"auto"`` picks CUDA when available, else the CPU.

    Raises:
        ValueError: the string is none of these, or names a CUDA device that is not present.
    """
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    match = _CUDA_INDEX.fullmatch(spec)
    if spec == "cuda" or match:
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec!r} requested but CUDA is not available here")
        count = torch.cuda.device_count()
        if match and int(match.group(1)) >= count:
            raise ValueError(
                f"device {spec!r} does not exist; this machine has {count} CUDA device(s)"
            )
        return torch.device(spec)
    raise ValueError(f"unknown device {spec!r}; valid devices are: auto, cpu, cuda, cuda:N")
