"""``submit_study``: from a parsed spec to a queued study, with every check on the way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from service.config import Settings
from service.errors import LimitExceededError, SpecError
from service.schemas import EnqueuedTrial, StudySpec
from service.store import StudyRecord, StudyStore
from service.studies._model_size import check_model_size
from service.studies._warm_start import enqueue_planned, plan_study_warm_start
from service.tuning import DatasetSource, ResolvedStudy, resolve_spec

__all__ = ["Submitted", "Submitter", "resolve_study", "submit_study"]


def _sees_all(_: StudyRecord) -> bool:
    return True


@dataclass(frozen=True)
class Submitter:
    """Who submits: the API key the study is charged to (None: no keys in use), the studies
    they may read (a warm start may copy from those) and the data sets they may use (None:
    every stored one)."""

    key_id: int | None = None
    can_see: Callable[[StudyRecord], bool] = _sees_all
    datasets: DatasetSource | None = None


@dataclass(frozen=True)
class Submitted:
    study: StudyRecord
    warm_start: list[EnqueuedTrial] = field(default_factory=list)


def resolve_study(
    spec: StudySpec, store: StudyStore, settings: Settings, submitter: Submitter = Submitter()
) -> ResolvedStudy:
    """Validate ``spec`` completely (space, names, data set, limits); nothing is stored."""
    resolved = resolve_spec(spec, spaces_dir=settings.search_spaces_dir,
                            datasets=submitter.datasets or store.datasets)
    _check_limits(resolved, settings)
    return resolved


def submit_study(
    spec: StudySpec,
    store: StudyStore,
    settings: Settings,
    submitter: Submitter = Submitter(),
    *,
    resolved: ResolvedStudy | None = None,
) -> Submitted:
    """Create the study within the submitter's quota, with its warm start queued.

    ``resolved``: ``spec`` already passed through :func:`resolve_study` (a sweep resolves all
    its studies before it creates any).
    """
    resolved = resolved or resolve_study(spec, store, settings, submitter)
    quota = settings.max_active_studies_per_key
    active = store.count_active(owner_key_id=submitter.key_id)
    if active >= quota:
        raise LimitExceededError(
            f"{active} studies of this key are queued or running, the most allowed "
            f"({quota}); wait for one to end or cancel one"
        )
    # Planned (and refused if wrong) before the study exists, so a bad warm start stores nothing.
    warm_start = plan_study_warm_start(store, submitter.can_see, resolved)
    record = store.create(resolved, owner_key_id=submitter.key_id)
    # Check again now that it exists: two submissions racing past the first check must not
    # both stay (a check-then-insert is not atomic across threads or API replicas).
    if store.count_active(owner_key_id=submitter.key_id) > quota:
        store.delete(record.id)
        raise LimitExceededError(
            f"this key already has {quota} queued or running "
            "studies, the most allowed; wait for one to end or cancel one"
        )
    enqueue_planned(store, record, warm_start)
    return Submitted(record, warm_start)


def _check_limits(resolved: ResolvedStudy, settings: Settings) -> None:
    """Budget, sequence length and model size against the configured limits."""
    budget = resolved.spec.budget
    if budget.n_trials > settings.max_trials_per_study:
        raise SpecError(
            f"{budget.n_trials} trials exceed the limit of {settings.max_trials_per_study} "
            "per study", loc=("budget", "n_trials"),
        )
    if budget.max_epochs > settings.max_epochs_per_trial:
        raise SpecError(
            f"{budget.max_epochs} epochs exceed the limit of {settings.max_epochs_per_trial} "
            "per trial", loc=("budget", "max_epochs"),
        )
    check_model_size(
        resolved,
        max_seq_len=settings.max_seq_len,
        max_params=settings.max_model_params,
        max_activation_bytes=settings.max_activation_bytes,
    )
