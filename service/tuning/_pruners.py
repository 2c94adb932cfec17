"""Pruner registry: name -> options model + factory. Resources are epochs (steps are 1-based)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from pydantic import Field, model_validator

from service.errors import SpecError, UnknownNameError
from service.tuning._options import StrictOptions, parse_options
from service.tuning._plateau_asha import PlateauAwareASHAPruner, latest_rung

__all__ = ["PRUNERS", "PrunerEntry", "build_pruner", "parse_pruner_options"]


class MedianOptions(StrictOptions):
    n_startup_trials: int = Field(default=5, ge=0)
    n_warmup_steps: int = Field(default=2, ge=0, description="epochs before pruning may start")
    interval_steps: int = Field(default=1, ge=1)
    n_min_trials: int = Field(default=1, ge=1)


class PercentileOptions(MedianOptions):
    percentile: float = Field(default=25.0, ge=0, le=100)


class SuccessiveHalvingOptions(StrictOptions):
    min_resource: int = Field(default=1, ge=1, description="epochs of the first rung")
    reduction_factor: int = Field(default=3, ge=2)
    min_early_stopping_rate: int = Field(default=0, ge=0)
    bootstrap_count: int = Field(default=0, ge=0)


class HyperbandOptions(StrictOptions):
    min_resource: int = Field(default=1, ge=1, description="epochs of the smallest rung")
    max_resource: int | None = Field(
        default=None, ge=1, description="epochs of the full budget; defaults to max_epochs"
    )
    reduction_factor: int = Field(default=3, ge=2)
    bootstrap_count: int = Field(default=0, ge=0)


class ThresholdOptions(StrictOptions):
    lower: float | None = None
    upper: float | None = None
    n_warmup_steps: int = Field(default=0, ge=0)
    interval_steps: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _one_bound(self) -> ThresholdOptions:
        if self.lower is None and self.upper is None:
            raise ValueError("give lower, upper or both")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"lower ({self.lower}) must not exceed upper ({self.upper})")
        return self


class PatientOptions(StrictOptions):
    patience: int = Field(default=3, ge=0, description="epochs without improvement tolerated")
    min_delta: float = Field(default=0.0, ge=0)
    wrapped: dict[str, Any] | None = Field(
        default=None, description="another pruner, e.g. {name: median}, consulted as well"
    )


class WilcoxonOptions(StrictOptions):
    p_threshold: float = Field(default=0.1, gt=0, lt=1)
    n_startup_steps: int = Field(default=2, ge=0)


class PlateauASHAOptions(StrictOptions):
    min_resource: int | None = Field(
        default=None, ge=1,
        description="epochs of the first rung; defaults to max_epochs / reduction_factor**3 "
        "(at least 1), so that a trial is judged at most four times")
    reduction_factor: int = Field(
        default=3, ge=2, description="keep the top 1/reduction_factor at each rung; rungs at "
        "min_resource * reduction_factor**k epochs, none in the last 1/reduction_factor of "
        "max_epochs")
    min_trials: int | None = Field(
        default=None, ge=1,
        description="trials that must reach a rung before it prunes; defaults to 2 (with "
        "one worker per core on a small machine, a third would leave the first two "
        "unjudged until one of them ends)")
    min_improvement: float = Field(
        default=0.05, ge=0, le=10,
        description="relative gap by which the rung's kept scores must beat its median for "
        "the rung to carry signal, and by which a trial must trail them to be stopped there; "
        "on a rung without signal, the last epoch's gain below which a trial has stalled")
    breakthrough: float = Field(
        default=0.3, gt=0, le=1,
        description="a trial whose validation score or training loss improved by this "
        "fraction in its last epoch is kept")
    plateau_margin: float = Field(
        default=0.5, gt=0, le=10,
        description="on a rung without signal, a trial this much (relative) worse than the "
        "worst kept score is stopped; a closer one only when it has stalled (improved by less "
        "than min_improvement in its last epoch, past the first rung)")


class NoneOptions(StrictOptions):
    pass


PrunerFactory = Callable[[Any, int], optuna.pruners.BasePruner]


def _warmup(epochs: int) -> int:
    # Optuna skips steps < n_warmup_steps; our steps are 1-based epochs, so n warm-up epochs
    # (never pruned) are steps 1..n, i.e. Optuna's n + 1.
    return epochs + 1


@dataclass(frozen=True)
class PrunerEntry:
    options: type[StrictOptions]
    factory: PrunerFactory


def _median(o: MedianOptions, _: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.MedianPruner(
        n_startup_trials=o.n_startup_trials,
        n_warmup_steps=_warmup(o.n_warmup_steps),
        interval_steps=o.interval_steps,
        n_min_trials=o.n_min_trials,
    )


def _percentile(o: PercentileOptions, _: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.PercentilePruner(
        o.percentile,
        n_startup_trials=o.n_startup_trials,
        n_warmup_steps=_warmup(o.n_warmup_steps),
        interval_steps=o.interval_steps,
        n_min_trials=o.n_min_trials,
    )


def _successive_halving(o: SuccessiveHalvingOptions, max_epochs: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.SuccessiveHalvingPruner(
        min_resource=o.min_resource,
        reduction_factor=o.reduction_factor,
        min_early_stopping_rate=o.min_early_stopping_rate,
        bootstrap_count=o.bootstrap_count,
    )


def _hyperband(o: HyperbandOptions, max_epochs: int) -> optuna.pruners.BasePruner:
    # Never "auto": the automatic estimate is made per process and workers would disagree.
    return optuna.pruners.HyperbandPruner(
        min_resource=o.min_resource,
        max_resource=o.max_resource or max_epochs,
        reduction_factor=o.reduction_factor,
        bootstrap_count=o.bootstrap_count,
    )


def _threshold(o: ThresholdOptions, _: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.ThresholdPruner(
        lower=o.lower, upper=o.upper, n_warmup_steps=_warmup(o.n_warmup_steps),
        interval_steps=o.interval_steps,
    )


def _patient(o: PatientOptions, max_epochs: int) -> optuna.pruners.BasePruner:
    wrapped = None
    if o.wrapped is not None:
        raw = dict(o.wrapped)
        wrapped = build_pruner(str(raw.pop("name", "")), raw, max_epochs=max_epochs)
    return optuna.pruners.PatientPruner(wrapped, patience=o.patience, min_delta=o.min_delta)


def _wilcoxon(o: WilcoxonOptions, _: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.WilcoxonPruner(
        p_threshold=o.p_threshold, n_startup_steps=o.n_startup_steps
    )


def _plateau_asha(o: PlateauASHAOptions, max_epochs: int) -> optuna.pruners.BasePruner:
    first_rung = o.min_resource or max(1, max_epochs // o.reduction_factor**3)
    return PlateauAwareASHAPruner(
        max_resource=max_epochs, min_resource=first_rung,
        reduction_factor=o.reduction_factor, min_trials=o.min_trials,
        min_improvement=o.min_improvement, breakthrough=o.breakthrough,
        plateau_margin=o.plateau_margin,
    )


def _none(_: NoneOptions, __: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.NopPruner()


PRUNERS: dict[str, PrunerEntry] = {
    "plateau_asha": PrunerEntry(PlateauASHAOptions, _plateau_asha),
    "median": PrunerEntry(MedianOptions, _median),
    "percentile": PrunerEntry(PercentileOptions, _percentile),
    "successive_halving": PrunerEntry(
        SuccessiveHalvingOptions, _successive_halving
    ),
    "hyperband": PrunerEntry(HyperbandOptions, _hyperband),
    "threshold": PrunerEntry(ThresholdOptions, _threshold),
    "patient": PrunerEntry(PatientOptions, _patient),
    "wilcoxon": PrunerEntry(WilcoxonOptions, _wilcoxon),
    "none": PrunerEntry(NoneOptions, _none),
}


def _entry(name: str, loc: tuple[str, ...]) -> PrunerEntry:
    entry = PRUNERS.get(name)
    if entry is None:
        raise UnknownNameError("pruner", name, PRUNERS, loc=(*loc, "name"))
    return entry


def parse_pruner_options(
    name: str, raw: Mapping[str, Any], *, max_epochs: int, loc: tuple[str, ...] = ("pruner",)
) -> StrictOptions:
    """Validate a pruner's options against the study's epoch budget."""
    options = parse_options(_entry(name, loc).options, raw, loc=loc)
    if (
        isinstance(options, HyperbandOptions | SuccessiveHalvingOptions | PlateauASHAOptions)
        and options.min_resource is not None and options.min_resource > max_epochs
    ):
            raise SpecError(
                f"min_resource {options.min_resource} exceeds budget.max_epochs {max_epochs}",
                loc=(*loc, "min_resource"),
            )
    if isinstance(options, PlateauASHAOptions) and options.min_resource is not None:
        latest = latest_rung(options.reduction_factor, max_epochs)
        # Below 2 epochs there is no rung to have (nothing to prune): not an error.
        if 1 <= latest < options.min_resource:
            raise SpecError(
                f"min_resource {options.min_resource} leaves plateau_asha no rung: rungs lie "
                f"before the last 1/reduction_factor of budget.max_epochs {max_epochs}, so "
                f"min_resource must be at most {latest}",
                loc=(*loc, "min_resource"),
            )
    if isinstance(options, HyperbandOptions):
        top = options.max_resource or max_epochs
        if top > max_epochs or top <= options.min_resource:
            raise SpecError(
                f"max_resource {top} must be above min_resource {options.min_resource} and at "
                f"most budget.max_epochs {max_epochs}",
                loc=(*loc, "max_resource"),
            )
    if isinstance(options, PatientOptions) and options.wrapped is not None:
        inner = dict(options.wrapped)
        inner_name = str(inner.pop("name", ""))
        if inner_name == "patient":
            raise SpecError("a patient pruner cannot wrap another patient pruner",
                            loc=(*loc, "wrapped", "name"))
        parse_pruner_options(inner_name, inner, max_epochs=max_epochs, loc=(*loc, "wrapped"))
    return options


def build_pruner(
    name: str, raw_options: Mapping[str, Any], *, max_epochs: int
) -> optuna.pruners.BasePruner:
    """A pruner identical in every worker, rebuilt from the stored spec."""
    options = parse_pruner_options(name, raw_options, max_epochs=max_epochs)
    return _entry(name, ("pruner",)).factory(options, max_epochs)
