"""Workers: the trial loop of one process and the supervisor that keeps a pool alive."""

from service.worker._liveness import PoolLiveness, PoolStatusFile
from service.worker._loop import Worker, configure_torch_threads
from service.worker._supervisor import (
    Placement,
    Supervisor,
    gpu_placements,
    worker_command,
    worker_env,
)

__all__ = [
    "Placement",
    "PoolLiveness",
    "PoolStatusFile",
    "Supervisor",
    "Worker",
    "configure_torch_threads",
    "gpu_placements",
    "worker_command",
    "worker_env",
]
