"""Wire format shared by the API, the Python client and the CLI.

``StudySpec`` is what users submit (YAML or JSON); the ``*Public`` models are what the API
returns. Option mappings (task options, sampler and pruner arguments) stay open here and are
validated against the registries when a study is submitted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BaselinePublic",
    "BestTrialPublic",
    "BudgetSpec",
    "EpochRecord",
    "ObjectiveSpec",
    "Problem",
    "ProblemError",
    "PrunerSpec",
    "SamplerSpec",
    "SearchSpaceInfo",
    "StudyPublic",
    "StudySpec",
    "StudyStatus",
    "StudySummaryList",
    "TaskInfo",
    "TaskSpec",
    "TrialCounts",
    "TrialPublic",
    "TrialsPage",
]

StudyStatus = Literal["queued", "running", "completed", "cancelled", "failed"]
Direction = Literal["minimize", "maximize"]
TrialStateName = Literal["running", "waiting", "complete", "pruned", "fail"]

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class TaskSpec(BaseModel):
    """A built-in task by name; every other key is one of the task's options."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=100)

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ObjectiveSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: str = Field(default="val_loss", description="val_<metric> of the task, e.g. val_mse")
    direction: Direction | None = Field(
        default=None, description="Defaults to the natural direction of the metric."
    )


class SamplerSpec(BaseModel):
    """A sampler by name with its seed; other keys are the sampler's own options."""

    model_config = ConfigDict(extra="allow")

    name: str = "tpe"
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class PrunerSpec(BaseModel):
    """A pruner by name; other keys are the pruner's own options."""

    model_config = ConfigDict(extra="allow")

    name: str = "median"

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class BudgetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_trials: int = Field(default=20, ge=1, le=100_000)
    max_epochs: int = Field(default=10, ge=1, le=100_000)
    timeout_s: float | None = Field(default=None, gt=0)


class StudySpec(BaseModel):
    """A tuning study as submitted."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=_NAME_PATTERN)
    task: TaskSpec
    search_space: str | dict[str, Any] = Field(
        description="The name of a file in search_spaces/, or an inline {params: ...} mapping."
    )
    objective: ObjectiveSpec = Field(default_factory=ObjectiveSpec)
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seed of data and training.")
    priority: int = Field(
        default=0, ge=-100, le=100,
        description="Workers serve higher priorities first; equal ones take turns per trial.",
    )
    max_parallel: int | None = Field(
        default=None, ge=1, description="At most this many trials of the study run at once."
    )


class TrialCounts(BaseModel):
    running: int = 0
    waiting: int = 0
    complete: int = 0
    pruned: int = 0
    fail: int = 0
    retried: int = Field(default=0, description="Failed trials that were re-run by a retry.")
    finished: int = Field(
        default=0, description="complete + pruned + failed trials that were not retried."
    )


class BaselinePublic(BaseModel):
    name: str
    metric: str
    value: float
    description: str


class BestTrialPublic(BaseModel):
    number: int
    value: float
    params: dict[str, Any]


class StudyPublic(BaseModel):
    id: int
    name: str
    status: StudyStatus
    stop_reason: str | None = None
    task: str
    objective: ObjectiveSpec
    budget: BudgetSpec
    trials: TrialCounts
    best: BestTrialPublic | None = None
    baseline: BaselinePublic | None = None
    priority: int = 0
    max_parallel: int | None = None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    spec: dict[str, Any]


class StudySummaryList(BaseModel):
    studies: list[StudyPublic]


class EpochRecord(BaseModel):
    epoch: int
    value: float | None = None
    train_loss: float | None = None
    grad_norm_mean: float | None = None
    grad_norm_max: float | None = None


class TrialPublic(BaseModel):
    number: int
    state: TrialStateName
    value: float | None = None
    params: dict[str, Any]
    intermediate_values: dict[int, float]
    epochs: list[EpochRecord] = Field(default_factory=list)
    prune_reason: Literal["pruner", "diverged"] | None = None
    message: str | None = None
    duration_s: float | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    device: str | None = None
    worker: str | None = None
    retry_of: int | None = Field(default=None, description="The failed trial this one re-runs.")
    retried_by: int | None = Field(default=None, description="The trial that re-ran this one.")
    resumed_from_epoch: int | None = Field(
        default=None, description="The checkpointed epoch a retry resumed after."
    )


class TrialsPage(BaseModel):
    total: int
    offset: int
    limit: int
    trials: list[TrialPublic]


class TaskInfo(BaseModel):
    name: str
    kind: str
    description: str
    metrics: list[str]
    allows_bidirectional: bool
    options: dict[str, Any] = Field(description="JSON schema of the task's options.")


class SearchSpaceInfo(BaseModel):
    name: str
    params: dict[str, Any]


class ProblemError(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every 4xx and 5xx response."""

    type: str = Field(description="urn:rnntune:problem:<code in kebab case>")
    title: str
    status: int
    detail: str
    instance: str
    code: str = Field(description="The service's exception name, e.g. SpecError")
    request_id: str
    errors: list[ProblemError] | None = Field(
        default=None, description="Every problem of an invalid spec, with its location."
    )
