"""The models of a study spec as users write it (YAML or JSON), and of a sweep over one.

Option mappings (task options, sampler and pruner arguments) stay open here and are
validated against the registries when a study is resolved.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "MAX_SWEEP_STUDIES",
    "BudgetSpec",
    "ConstraintSpec",
    "EnqueueRequest",
    "EnqueueTrial",
    "EvaluationSpec",
    "ObjectiveSpec",
    "PrunerSpec",
    "SamplerSpec",
    "StudySpec",
    "SweepSpec",
    "Tag",
    "TaskSpec",
    "ValidationSpec",
]

Direction = Literal["minimize", "maximize"]

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
# A sweep's studies are named after it plus what varies, so its own name is shorter.
_SWEEP_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$"
MAX_SWEEP_STUDIES = 100

Tag = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:=-]{0,63}$",
                           description="Letters, digits and _ . : = -, up to 64 characters.")]


class TaskSpec(BaseModel):
    """A built-in task by name, or an uploaded data set by id; every other key is an option."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    dataset: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="The id of an uploaded data set."
    )

    @model_validator(mode="after")
    def _one_source(self) -> TaskSpec:
        if (self.name is None) == (self.dataset is None):
            raise ValueError("give either a built-in task's name or a data set id (dataset: ID)")
        return self

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

    name: str = "plateau_asha"

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class BudgetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_trials: int = Field(default=20, ge=1, le=100_000)
    max_epochs: int = Field(default=10, ge=1, le=100_000)
    # A year: a deadline must stay a date the database and Python can hold.
    timeout_s: float | None = Field(default=None, gt=0, le=366 * 86_400)


# On by default: measured on 8 configurations of sunspots and JapaneseVowels (docs/tasks.md),
# the average of 3 seed runs scored better on test than the seeds' mean every time (and no
# worse in MSE or log loss in general: both are convex in the prediction).
ENSEMBLE_DEFAULT = True
REFIT_DEFAULT = True


class ValidationSpec(BaseModel):
    """What the selection step scores its candidates on: the study's validation split alone,
    or several splits. Off by default: measured on no data set yet, and each split multiplies
    the selection's re-runs (see ``selection_plan``)."""

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["holdout", "repeated"] = Field(
        default="holdout",
        description="holdout: the study's validation split. repeated: `splits` splits of the "
        "training and validation parts, the study's own first; classification re-splits them "
        "at random keeping each class's validation count (stratified), regression at random, "
        "forecasting by rolling origin (each split trains on the windows before an origin and "
        "validates on the next validation-sized stretch, the latest first; time order is never "
        "broken).",
    )
    splits: int = Field(
        default=3, ge=2, le=10,
        description="With scheme repeated: how many splits, the study's own included.",
    )

    @property
    def n_splits(self) -> int:
        """Splits each candidate is scored on (1 for holdout)."""
        return self.splits if self.scheme == "repeated" else 1


class EvaluationSpec(BaseModel):
    """The final evaluation of the best configuration once the study completes."""

    model_config = ConfigDict(extra="forbid")

    seeds: int = Field(
        default=3, ge=1, le=20,
        description="Re-train the best configuration with this many seeds (the study's seed "
        "first) and report the test score's mean and spread.",
    )
    select_top_k: int = Field(
        default=3, ge=0, le=20,
        description="Before the best is declared, re-train the top k trials by validation with "
        "every evaluation seed (on every split of `validation`) and choose on the mean of the "
        "validation metric. The re-runs count against budget.n_trials (k x (seeds x splits - "
        "1) trials are kept for them); k "
        "shrinks so that they take at most a fifth of the budget, and below 2 the step is off. "
        "0 turns it off.",
    )
    validation: ValidationSpec = Field(
        default_factory=ValidationSpec,
        description="Score each candidate on several validation splits instead of one: every "
        "seed is trained on every split, and the mean over all of them chooses. The re-runs "
        "count against budget.n_trials like the seed re-runs: k x (seeds x splits - 1).",
    )
    ensemble: bool = Field(
        default=ENSEMBLE_DEFAULT,
        description="Keep the final model as the seed ensemble: the average of the seed runs' "
        "predictions (classification: mean class probabilities). Its test score is reported "
        "beside the per-seed spread, and the exported model serves it. Off: the study seed's "
        "run alone is the model.",
    )
    refit: bool = Field(
        default=REFIT_DEFAULT,
        description="Train each final seed run again on the training and validation splits "
        "together, for the median of the epochs the seeds' validation chose, and keep that "
        "model: the validation "
        "sequences (a forecaster's most recent steps) are not left out of the model served. "
        "Each run reports the test score of both models. Off: the model kept is the one "
        "stopped on validation.",
    )


class ConstraintSpec(BaseModel):
    """Hard limits a configuration must meet to count as feasible (Optuna constraints)."""

    model_config = ConfigDict(extra="forbid")

    max_params: int | None = Field(default=None, ge=1)
    max_latency_ms: float | None = Field(default=None, gt=0, le=3_600_000)


class EnqueueTrial(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] = Field(min_length=1)


class EnqueueRequest(BaseModel):
    """Known configurations to try first: given ones, the best of an earlier study, or
    well-known good defaults for the cells the space allows."""

    model_config = ConfigDict(extra="forbid")

    trials: list[EnqueueTrial] = Field(default_factory=list, max_length=100)
    from_study: int | None = Field(default=None, ge=1, le=2**31 - 1)
    top_k: int = Field(default=3, ge=1, le=100)
    best_practice: bool = False


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
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    also_minimize: list[Literal["params", "latency_ms"]] = Field(
        default_factory=list, max_length=2,
        description="Further objectives beside `objective`, making the study multi-objective: "
        "the parameter count, or inference latency per sequence on the worker's device (ms).",
    )
    constraints: ConstraintSpec = Field(default_factory=lambda: ConstraintSpec())
    warm_start: EnqueueRequest | None = Field(
        default=None,
        description="Configurations the study runs first: given ones, the best trials of an "
        "earlier study (`from_study`, `top_k`), or well-known good defaults for the cells the "
        "space allows (`best_practice`). Left out, a study starts from the best-practice "
        "defaults of its cells (not with the grid or qmc sampler); `null` starts from the "
        "sampler alone.",
    )
    tags: list[Tag] = Field(
        default_factory=list, max_length=20,
        description="Labels to find the study by (`GET /v1/studies?tag=`, `rnntune status "
        "--tag`).",
    )


class SweepSpec(BaseModel):
    """Several studies from one template: one per combination of the values in ``over``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=_SWEEP_NAME_PATTERN,
        description="Each study is named `<name>-<key>-<value>...` and tagged with `name`.",
    )
    template: dict[str, Any] | str = Field(
        description="A study spec without `name`: a mapping, or its YAML or JSON text."
    )
    over: dict[str, list[Any]] = Field(
        min_length=1, max_length=4,
        description="What varies: a field of the template by its dotted path (`seed`, "
        "`task.dataset`, `sampler.seed`) and the values it takes.",
    )
    tags: list[Tag] = Field(default_factory=list, max_length=10,
                            description="Added to every study's tags.")
