"""``python -m service.worker``: one worker process (the supervisor starts these)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import threading
import warnings

import optuna

from service.config import Settings
from service.logs import configure_logging
from service.tasks import configure_parsed_cache, default_disk_dir
from service.worker._loop import Worker, configure_torch_threads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m service.worker")
    parser.add_argument("--worker-id", default=f"{socket.gethostname()}-{os.getpid()}")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--max-trials", type=int, default=None)
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    configure_torch_threads(1)
    configure_parsed_cache(disk_dir=settings.parsed_cache_dir or default_disk_dir(),
                           disk_max_bytes=settings.parsed_cache_max_bytes)
    stop = threading.Event()
    # SIGTERM: finish the trial in hand, then exit.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker = Worker(settings, worker_id=args.worker_id, device=args.device, stop=stop)
    with contextlib.suppress(KeyboardInterrupt):
        worker.run_forever(max_trials=args.max_trials)


if __name__ == "__main__":
    main()
