"""Workers: the trial loop of one process and the supervisor that keeps a pool alive."""

from service.worker._loop import Worker, configure_torch_threads
from service.worker._supervisor import Supervisor, worker_command, worker_env

__all__ = ["Supervisor", "Worker", "configure_torch_threads", "worker_command", "worker_env"]
