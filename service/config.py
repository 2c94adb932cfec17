"""Settings: one object, read from ``RNNTUNE_*`` environment variables, built once, passed in."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

__all__ = ["Settings", "default_search_spaces_dir"]


def default_search_spaces_dir() -> Path:
    """The ``search_spaces/`` folder shipped beside the ``service`` package."""
    return Path(__file__).resolve().parent.parent / "search_spaces"


class Settings(BaseSettings):
    """Everything configurable about rnntune. Nothing here connects to anything."""

    model_config = SettingsConfigDict(env_prefix="RNNTUNE_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///rnntune.db",
        description="SQLAlchemy URL shared by the API, the workers and the dashboard.",
    )
    search_spaces_dir: Path = Field(default_factory=default_search_spaces_dir)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=0,
        description="Local worker processes started by `rnntune serve` (one torch thread each).",
    )
    device: str = Field(default="auto", description="auto, cpu, cuda or cuda:N")
    device_label: str | None = Field(
        default=None, description="What trials record as their device (a pinned GPU's index)."
    )
    heartbeat_interval_s: int = Field(default=10, ge=1)
    grace_period_s: int = Field(
        default=40,
        ge=2,
        description="A RUNNING trial whose heartbeat is older than this is failed and retried.",
    )
    max_trial_retries: int = Field(default=2, ge=0)
    checkpoint_every_epochs: int = Field(
        default=1, ge=1, description="Epochs between the checkpoints a retry resumes from."
    )
    poll_interval_s: float = Field(default=1.0, gt=0)
    db_wait_s: float = Field(
        default=120, ge=0,
        description="How long `serve` and `worker` wait, with logged backoff, for a database "
        "that is not up yet before giving up.",
    )
    sweep_interval_s: float = Field(default=5.0, gt=0)
    api_processes: int = Field(
        default=0, ge=0,
        description="API server processes `rnntune serve` runs; 0 chooses from the cores "
        "left to it beside the local workers (see cli._serve).",
    )
    keep_alive_s: int = Field(
        default=75, ge=1,
        description="How long the API keeps an idle client connection open. Above the 5 s "
        "after which httpx (and so `rnntune`'s own client) stops reusing one: at uvicorn's "
        "default of 5 s, a client could send its next request just as the server closed the "
        "connection, and get 'Server disconnected' instead of an answer.",
    )
    api_shared_lane: int | None = Field(
        default=None, ge=0,
        description="Frequent requests, reads and writes alike, an API process runs at once "
        "in one lane; more wait in arrival order (see api._lanes). Unset: two on SQLite (its "
        "writes take turns anyway, and more threads only take the GIL from each other) "
        "unless api_read_lane or api_write_lane is set, none elsewhere; 0: none, reads and "
        "writes each in a lane of their own.",
    )
    api_read_lane: int = Field(
        default=2, ge=1,
        description="Without a shared lane: frequent reads (study view, trial pages, study "
        "list, best trial) an API process runs at once; more wait in arrival order.",
    )
    api_write_lane: int = Field(
        default=0, ge=0,
        description="Without a shared lane: submits, cancels, deletes and enqueues an API "
        "process runs at once; 0: one on SQLite (its writes take turns anyway), four elsewhere.",
    )
    api_sweep: bool = Field(
        default=True,
        description="Whether the API process runs the periodic sweep itself; `serve` with "
        "several API processes runs one sweep in its own process instead.",
    )
    pool_status_file: Path | None = Field(
        default=None,
        description="Set by `serve` for its API processes: where it writes the local worker "
        "pool's liveness for /healthz.",
    )
    worker_cached_studies: int = Field(
        default=8, ge=1,
        description="Studies a worker keeps loaded between trials, with Optuna's cache of "
        "their finished trials (claims rotate between active studies).",
    )
    parsed_cache_dir: Path | None = Field(
        default=None,
        description="Where workers keep large parsed data sets for other processes on the "
        "machine (default: rnntune-parsed-<uid> in the temporary folder).",
    )
    parsed_cache_max_bytes: int = Field(
        default=2 * 1024**3, ge=0,
        description="The most that folder holds; the least recently used data sets go first.",
    )
    db_pool_size: int = Field(
        default=4, ge=1,
        description="Connections a process keeps open per pool (PostgreSQL), opened as needed. "
        "Four of the six an API process's lanes may use at once: with two kept, a loaded API "
        "opened and closed a connection (a server process) for most requests. Workers use one "
        "shared pool of one connection whatever this says.",
    )
    db_max_overflow: int = Field(
        default=2, ge=0, description="Extra connections a pool may open for a burst, then close."
    )
    db_transaction_pooler: bool = Field(
        default=False,
        description="The PostgreSQL URL points at a pooler in transaction mode (PgBouncer): "
        "no server-side prepared statements, which such a pooler cannot keep.",
    )
    sqlite_busy_timeout_s: float = Field(
        default=25, gt=0,
        description="How long a SQLite writer waits for the file lock; capped below the grace "
        "period minus one heartbeat interval (see ``sqlite_busy_timeout``).",
    )
    auth: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="auto: API keys are required once any key exists, and always when the "
        "server listens beyond loopback; on: always; off: never (trusted networks only).",
    )
    bootstrap_admin_key: str | None = Field(
        default=None,
        min_length=24,
        description="If set and no key exists yet, an admin key with this token is created "
        "at start (for containers).",
    )
    max_active_studies_per_key: int = Field(default=20, ge=1)
    max_trials_per_study: int = Field(default=10_000, ge=1)
    max_epochs_per_trial: int = Field(default=1_000, ge=1)
    max_body_bytes: int = Field(default=1_000_000, ge=1_000, description="Largest spec body.")
    max_upload_bytes: int = Field(
        default=50 * 1024**2, ge=1_000, description="Largest data set file one may upload."
    )
    max_dataset_unpacked_bytes: int = Field(
        default=1024**3, ge=1_000,
        description="Largest size an uploaded NPZ archive may unpack to.",
    )
    max_predict_rows: int = Field(
        default=100_000, ge=1, description="Most sequences (or CSV rows) one prediction takes."
    )
    max_concurrent_predictions: int = Field(
        default=2, ge=1,
        description="Predictions the API server runs at once; more are refused with 429.",
    )
    max_seq_len: int = Field(default=5_000, ge=2, description="Longest sequence a task may use.")
    max_model_params: int = Field(
        default=50_000_000, ge=1_000,
        description="Parameter budget of the largest model a search space allows.",
    )
    max_activation_bytes: int = Field(
        default=8 * 1024**3, ge=1_000_000,
        description="Training activation memory budget of the largest model and batch.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("grace_period_s")
    @classmethod
    def _grace_exceeds_heartbeat(cls, grace: int, info: object) -> int:
        data = getattr(info, "data", {})
        interval = data.get("heartbeat_interval_s", 1)
        # A grace period of only one interval lets a slow but live trial be failed under its
        # worker; keep at least two intervals of slack.
        if grace < 2 * interval:
            raise ValueError(
                f"grace_period_s={grace} must be at least twice heartbeat_interval_s={interval}"
            )
        return grace

    @property
    def sqlite_busy_timeout(self) -> float:
        """The busy timeout in force: a live worker waiting this long on the write lock must
        not look dead, so it stays below the grace period minus one heartbeat interval."""
        ceiling = self.grace_period_s - self.heartbeat_interval_s - 0.5
        return max(0.5, min(self.sqlite_busy_timeout_s, ceiling))

    @property
    def binds_beyond_loopback(self) -> bool:
        return self.host not in ("127.0.0.1", "localhost", "::1")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite database's file; None for another database or one in memory."""
        if not self.is_sqlite:
            return None
        database = make_url(self.database_url).database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database).resolve()

    @property
    def shared_lane_width(self) -> int:
        """0: reads and writes each have their own lane. A read or write lane the user set
        is taken as asked for, not ignored under the shared lane."""
        if self.api_shared_lane is not None:
            return self.api_shared_lane
        split_asked = bool({"api_read_lane", "api_write_lane"} & self.model_fields_set)
        return 2 if self.is_sqlite and not split_asked else 0

    @property
    def write_lane_width(self) -> int:
        if self.api_write_lane:
            return self.api_write_lane
        return 1 if self.is_sqlite else 4
