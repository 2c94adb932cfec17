"""Keep N worker processes alive: start them, restart any that dies, stop them on request."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from service.config import Settings

__all__ = ["Placement", "Supervisor", "gpu_placements", "worker_command", "worker_env"]

log = logging.getLogger(__name__)

# A worker that dies sooner than this after starting counts as crash-looping; it is
# restarted after a growing delay rather than immediately.
_HEALTHY_AFTER_S = 30.0
_MAX_RESTART_DELAY_S = 60.0


@dataclass(frozen=True)
class Placement:
    """Where one worker process runs: a device, optionally pinned to one physical GPU."""

    device: str
    gpu: int | None = None

    @property
    def label(self) -> str:
        return self.device if self.gpu is None else f"cuda:{self.gpu}"


def gpu_placements(gpus: list[int], per_gpu: int) -> list[Placement]:
    """``per_gpu`` processes on each listed GPU, each seeing only its own card."""
    if not gpus or per_gpu < 1:
        raise ValueError("give at least one GPU and at least one process per GPU")
    if len(set(gpus)) != len(gpus) or min(gpus) < 0:
        raise ValueError(f"GPU indices must be distinct and non-negative, got {gpus}")
    return [Placement(device="cuda:0", gpu=gpu) for gpu in gpus for _ in range(per_gpu)]


def worker_env(settings: Settings, *, device: str, gpu: int | None = None) -> dict[str, str]:
    """The child's environment: the parent's settings, spelled as RNNTUNE_* variables.

    A pinned worker sees one GPU (``CUDA_VISIBLE_DEVICES``), as ``cuda:0``; its trials record
    the physical card.
    """
    env = dict(os.environ)
    env.update({
        "RNNTUNE_DATABASE_URL": settings.database_url,
        "RNNTUNE_SEARCH_SPACES_DIR": str(settings.search_spaces_dir),
        "RNNTUNE_DEVICE": device,
        "RNNTUNE_HEARTBEAT_INTERVAL_S": str(settings.heartbeat_interval_s),
        "RNNTUNE_GRACE_PERIOD_S": str(settings.grace_period_s),
        "RNNTUNE_MAX_TRIAL_RETRIES": str(settings.max_trial_retries),
        "RNNTUNE_POLL_INTERVAL_S": str(settings.poll_interval_s),
        "RNNTUNE_DB_WAIT_S": str(settings.db_wait_s),
        "RNNTUNE_SQLITE_BUSY_TIMEOUT_S": str(settings.sqlite_busy_timeout_s),
        "RNNTUNE_LOG_LEVEL": settings.log_level,
        "RNNTUNE_DB_TRANSACTION_POOLER": str(settings.db_transaction_pooler).lower(),
        "RNNTUNE_WORKER_CACHED_STUDIES": str(settings.worker_cached_studies),
        # One compute thread per process; the pool's parallelism comes from processes.
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    })
    if settings.parsed_cache_dir is not None:
        env["RNNTUNE_PARSED_CACHE_DIR"] = str(settings.parsed_cache_dir)
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
        env["RNNTUNE_DEVICE"] = "cuda:0"
        env["RNNTUNE_DEVICE_LABEL"] = f"cuda:{gpu}"
    else:
        env.pop("RNNTUNE_DEVICE_LABEL", None)
    return env


def _stop_with_parent() -> None:
    """In the child: get SIGTERM (checkpoint and hand back) if the supervisor dies, even by
    SIGKILL, so no orphaned worker keeps running beside a restarted server."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def worker_command(worker_id: str) -> list[str]:
    return [sys.executable, "-m", "service.worker", "--worker-id", worker_id]


@dataclass
class _Slot:
    worker_id: str
    placement: Placement
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    next_start_at: float = 0.0
    failures_in_a_row: int = field(default=0)


class Supervisor:
    """Runs ``count`` worker processes and restarts each one that exits."""

    def __init__(
        self,
        settings: Settings,
        *,
        count: int | None = None,
        placements: list[Placement] | None = None,
        name: str | None = None,
    ) -> None:
        host = name or socket.gethostname()
        if placements is None:
            placements = [Placement(device=settings.device)] * (count or 0)
        self.settings = settings
        self.slots = [
            _Slot(worker_id=f"{host}-{os.getpid()}-w{i}", placement=placement)
            for i, placement in enumerate(placements)
        ]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the workers and watch them from a background thread."""
        self._thread = threading.Thread(target=self.run, name="rnntune-supervisor", daemon=True)
        self._thread.start()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:
                # Whatever happens, this thread must go on: if it ended, every worker would
                # get its parent-death signal and nothing would start them again.
                log.exception("supervisor: checking the workers failed; trying again")
                self._stop.wait(_MAX_RESTART_DELAY_S)
            self._stop.wait(0.5)
        self._terminate_all()

    def check(self) -> None:
        """Start any worker that is not running (and is not waiting out a restart delay)."""
        now = time.monotonic()
        for slot in self.slots:
            if slot.process is not None and slot.process.poll() is None:
                continue
            if slot.process is not None:
                self._note_exit(slot, now)
            if now >= slot.next_start_at:
                try:
                    self._spawn(slot, now)
                except OSError as error:  # ENOMEM, EAGAIN: the machine is short of something
                    slot.failures_in_a_row += 1
                    delay = min(_MAX_RESTART_DELAY_S, 0.5 * 2 ** slot.failures_in_a_row)
                    slot.next_start_at = now + delay
                    log.error("supervisor: cannot start worker %s (%s); retrying in %.1fs",
                              slot.worker_id, error, delay)

    def liveness(self) -> dict[str, int | bool]:
        """How many workers should run, how many do, and whether they are being watched."""
        alive = sum(1 for s in self.slots if s.process is not None and s.process.poll() is None)
        watching = self._thread is not None and self._thread.is_alive()
        return {"expected": len(self.slots), "alive": alive, "supervised": watching}

    def _note_exit(self, slot: _Slot, now: float) -> None:
        assert slot.process is not None
        code = slot.process.returncode
        lived = now - slot.started_at
        slot.failures_in_a_row = 0 if lived > _HEALTHY_AFTER_S else slot.failures_in_a_row + 1
        delay = min(_MAX_RESTART_DELAY_S, 0.5 * 2 ** slot.failures_in_a_row)
        slot.next_start_at = now + (delay if slot.failures_in_a_row else 0.0)
        slot.restarts += 1
        slot.process = None
        log.warning("worker %s exited with code %s after %.1fs; restarting", slot.worker_id,
                    code, lived)

    def _spawn(self, slot: _Slot, now: float) -> None:
        slot.process = subprocess.Popen(
            worker_command(slot.worker_id),
            env=worker_env(self.settings, device=slot.placement.device,
                           gpu=slot.placement.gpu),
            preexec_fn=_stop_with_parent,
        )
        slot.started_at = now

    def pids(self) -> list[int]:
        return [s.process.pid for s in self.slots if s.process is not None]

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self._terminate_all(timeout)

    def _terminate_all(self, timeout: float = 30.0) -> None:
        running = [s.process for s in self.slots if s.process is not None]
        for process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
