"""Wire format shared by the API, the Python client and the CLI.

``StudySpec`` is what users submit (YAML or JSON; defined in ``service.specs``); the
``*Public`` models are what the API returns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

# What users submit is defined beside its parsing; it is part of the wire format too.
from service.specs._models import (
    BudgetSpec,
    ConstraintSpec,
    EnqueueRequest,
    EnqueueTrial,
    EvaluationSpec,
    ObjectiveSpec,
    PrunerSpec,
    SamplerSpec,
    StudySpec,
    SweepSpec,
    Tag,
    TaskSpec,
    ValidationSpec,
)

__all__ = [
    "BaselinePublic",
    "BestTrialPublic",
    "BudgetSpec",
    "ConstraintSpec",
    "DatasetList",
    "DatasetPublic",
    "EnqueueRequest",
    "EnqueueResult",
    "EnqueueTrial",
    "EnqueuedTrial",
    "EpochRecord",
    "EvaluationPublic",
    "EvaluationRun",
    "EvaluationSpec",
    "EvaluationStatus",
    "ImportancePublic",
    "MetricSpread",
    "ObjectiveSpec",
    "ParetoTrialPublic",
    "PredictionResult",
    "Problem",
    "ProblemError",
    "PrunerSpec",
    "SamplerSpec",
    "SearchSpaceInfo",
    "SeedSummary",
    "StudyPublic",
    "StudySpec",
    "StudyStatus",
    "StudySummaryList",
    "SweepPublic",
    "SweepSpec",
    "Tag",
    "TaskInfo",
    "TaskSpec",
    "TrialCounts",
    "TrialPublic",
    "TrialsPage",
    "ValidationSpec",
]

StudyStatus = Literal["queued", "running", "completed", "cancelled", "failed"]
TrialStateName = Literal["running", "waiting", "complete", "pruned", "fail"]


# Studies per page of GET /v1/studies unless a limit is given.
STUDY_PAGE = 100


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
    value: float | None = Field(
        default=None, description="On the validation split, beside the best trial's value."
    )
    description: str
    test_value: float | None = Field(
        default=None, description="On the test split, beside the final evaluation."
    )


EvaluationStatus = Literal["pending", "running", "done", "failed", "skipped"]


class MetricSpread(BaseModel):
    mean: float | None = None
    std: float | None = Field(default=None, description="Sample standard deviation (n - 1).")
    values: list[float | None] = Field(default_factory=list)


class SeedSummary(BaseModel):
    """The best configuration re-trained with several seeds, scored on the test split."""

    metric: str = Field(description="The objective's metric on the test split, e.g. test_mse.")
    seeds: list[int]
    mean: float | None = None
    std: float | None = None
    values: list[float | None] = Field(default_factory=list)
    metrics: dict[str, MetricSpread] = Field(default_factory=dict)
    diverged: int = 0


class EvaluationRun(BaseModel):
    seed: int
    status: Literal["completed", "diverged"]
    best_epoch: int | None = Field(default=None, description="Epoch kept (best on validation).")
    val: dict[str, float] = Field(default_factory=dict)
    test: dict[str, float] = Field(default_factory=dict)
    refit: Literal["completed", "diverged"] | None = Field(
        default=None, description="With evaluation.refit: how the run trained again on training "
        "plus validation for refit_epochs. Completed: `test` is that model's and "
        "`stopped_test` the model stopped on validation. Diverged: `test` is the stopped "
        "model's, kept.")
    refit_epochs: int | None = Field(
        default=None, description="Epochs the refit trained: the median of the epochs the "
        "seeds' validation chose (best_epoch of each run).")
    stopped_test: dict[str, float] | None = Field(
        default=None, description="With a completed refit: the test metrics of the model "
        "stopped on validation, beside the refit model's in `test`.")
    last_epoch_test: dict[str, float] | None = Field(
        default=None, description="With a completed refit: the test metrics of its last "
        "epoch's weights, before the last quarter's were averaged into the model kept.")
    duration_s: float | None = None


class EnsemblePublic(BaseModel):
    """The seed runs averaged into one model, scored on the test split."""

    seeds: list[int] = Field(description="The members: the seed runs that trained.")
    test: dict[str, float] = Field(default_factory=dict,
                                   description="Test metrics of the averaged predictions.")


class SelectionCandidate(BaseModel):
    trial: int
    params: dict[str, Any]
    values: list[float | None] = Field(
        description="Validation metric per seed, in the order of the selection's seeds; the "
        "first is the trial's own. With several validation splits, each seed's mean over "
        "them.")
    splits: list[list[float | None]] | None = Field(
        default=None, description="With several validation splits: the validation metric per "
        "seed (rows, as in `values`) and split (columns; the first is the study's own split, "
        "so the first value is the trial's own).")
    mean: float | None = Field(
        default=None, description="The mean that chooses: over every seed and split.")
    std: float | None = None


class SelectionPublic(BaseModel):
    """The top trials re-trained with further seeds, and the one chosen on the seed mean."""

    metric: str = Field(description="The validation metric compared, e.g. val_mse.")
    seeds: list[int]
    candidates: list[SelectionCandidate]
    winner: int = Field(description="The chosen trial's number.")
    reason: str
    runs: int = Field(description="Training runs spent, each counted as a trial of the budget.")
    validation: str = Field(
        default="holdout", description="What each candidate was scored on: `holdout` (the "
        "study's validation split), or the scheme and number of splits.")


class EvaluationPublic(BaseModel):
    """Test score of the best configuration and its mean and spread over seeds."""

    status: EvaluationStatus
    trial: int | None = Field(default=None, description="The best trial's number.")
    params: dict[str, Any] = Field(default_factory=dict)
    test: dict[str, float] | None = Field(
        default=None, description="Test metrics of the best configuration with the study's seed."
    )
    seeds: SeedSummary | None = None
    runs: list[EvaluationRun] = Field(default_factory=list)
    ensemble: EnsemblePublic | None = Field(
        default=None, description="The seed ensemble (evaluation.ensemble): the model served.")
    selection: SelectionPublic | None = Field(
        default=None, description="How the configuration was chosen among the top trials.")
    baselines: list[BaselinePublic] = Field(
        default_factory=list, description="Baselines fitted on the chosen configuration's "
        "splits (1-NN, logistic, ridge, AR(p), ...) beside the study's references.")
    verdict: str | None = Field(
        default=None, description="One line: does the tuned model beat the best baseline on "
        "the test split, by how much, across seeds.")
    message: str | None = None
    worker: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_s: float | None = None


class BestTrialPublic(BaseModel):
    number: int
    value: float
    params: dict[str, Any]


class ParetoTrialPublic(BaseModel):
    number: int
    values: list[float]
    params: dict[str, Any]


class StudyPublic(BaseModel):
    id: int
    name: str
    status: StudyStatus
    stop_reason: str | None = None
    task: str
    objective: ObjectiveSpec
    budget: BudgetSpec
    search_trials: int | None = Field(
        default=None, description="Trials the search runs: budget.n_trials less those kept "
        "for the selection step's re-runs (see evaluation.select_top_k).")
    trials: TrialCounts
    best: BestTrialPublic | None = None
    baseline: BaselinePublic | None = None
    baselines: list[BaselinePublic] = Field(
        default_factory=list, description="Every reference for the objective's metric."
    )
    evaluation: EvaluationPublic | None = Field(
        default=None, description="Final test evaluation; null for cancelled or failed studies."
    )
    priority: int = 0
    max_parallel: int | None = None
    objectives: list[str] = Field(
        default_factory=list, description="Every objective's name, in order (several: the "
        "study is multi-objective and `pareto_front` holds its trade-offs).",
    )
    pareto_front: list[ParetoTrialPublic] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    spec: dict[str, Any]


class StudySummaryList(BaseModel):
    """One page of the studies a caller may see, by id."""

    studies: list[StudyPublic]
    total: int = Field(description="Studies matching the filters, over all pages.")
    offset: int = 0
    limit: int = STUDY_PAGE


class SweepPublic(BaseModel):
    """The studies a sweep created, in the order of ``over``'s combinations."""

    name: str
    tag: str = Field(description="The tag every study of the sweep carries.")
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
    value: float | None = Field(default=None, description="The (first) objective's value.")
    values: list[float] | None = Field(
        default=None, description="Every objective's value, in a multi-objective study."
    )
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
    source: str | None = Field(
        default=None,
        description="Where a queued configuration came from: user, best-practice, or "
        "'study N trial M' (warm starts); none for trials the sampler chose.",
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


class DatasetPublic(BaseModel):
    """An uploaded data set, without its bytes."""

    id: int
    name: str
    kind: Literal["classification", "regression", "forecasting"]
    format: Literal["npz", "csv"]
    size_bytes: int
    sha256: str
    created_at: datetime
    meta: dict[str, Any] = Field(
        default_factory=dict, description="Shapes, classes, columns and upload options."
    )


class DatasetList(BaseModel):
    datasets: list[DatasetPublic]


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


class EnqueuedTrial(BaseModel):
    params: dict[str, Any]
    source: str
    notes: list[str] = Field(default_factory=list)


class EnqueueResult(BaseModel):
    enqueued: list[EnqueuedTrial]


class ImportancePublic(BaseModel):
    evaluator: str
    n_trials: int
    importances: dict[str, float]
    note: str | None = None


class PredictionResult(BaseModel):
    """Predictions of a study's best model on new data (``POST /v1/studies/{id}/predict``).

    ``predictions`` holds one entry per input sequence: a class label (classification) or a
    list of values in the data's units. Classification adds ``labels`` and each input's
    ``probabilities`` in that order; a CSV series adds ``for_rows``, the 0-based data row each
    forecast is for (past the last row: the future).
    """

    study_id: int
    kind: str
    n: int
    predictions: list[Any]
    labels: list[Any] | None = None
    probabilities: list[list[float]] | None = None
    for_rows: list[int] | None = None
