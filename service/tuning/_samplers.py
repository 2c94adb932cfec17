"""Sampler registry: name -> options model + factory. Rebuilt in every worker from the spec."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import optuna
from pydantic import Field

from service.errors import UnknownNameError
from service.spaces import SearchSpace
from service.tuning._guarded import SignalGuardedSampler
from service.tuning._options import StrictOptions, parse_options

__all__ = ["SAMPLERS", "SamplerEntry", "build_sampler", "parse_sampler_options"]


class TPEOptions(StrictOptions):
    n_startup_trials: int = Field(default=10, ge=0)
    n_ei_candidates: int = Field(default=24, ge=1)
    multivariate: bool = True
    constant_liar: bool = True
    explore_without_signal: bool = Field(
        default=True,
        description="draw at random while the best finished score does not beat their median "
        "by min_improvement (all trials on one plateau: nothing for the model to learn)")
    min_improvement: float = Field(default=0.05, ge=0, le=10)
    random_fraction: float = Field(
        default=1 / 3, ge=0, lt=1,
        description="share of trials after the start-up drawn at random instead of by the model "
        "(BOHB's 1/3), so a model fitted to a few early scores cannot shut out the region "
        "that holds the solution")


class RandomOptions(StrictOptions):
    pass


class CmaEsOptions(StrictOptions):
    n_startup_trials: int = Field(default=1, ge=0)
    sigma0: float | None = Field(default=None, gt=0)
    with_margin: bool = False
    consider_pruned_trials: bool = True


class GPOptions(StrictOptions):
    n_startup_trials: int = Field(default=10, ge=0)
    deterministic_objective: bool = False


class QMCOptions(StrictOptions):
    qmc_type: Literal["sobol", "halton"] = "sobol"
    scramble: bool = True


class GridOptions(StrictOptions):
    pass


class NSGAIIOptions(StrictOptions):
    population_size: int = Field(default=50, ge=2)
    mutation_prob: float | None = Field(default=None, ge=0, le=1)
    crossover_prob: float = Field(default=0.9, ge=0, le=1)


SamplerFactory = Callable[[Any, int | None, SearchSpace], optuna.samplers.BaseSampler]


@dataclass(frozen=True)
class SamplerEntry:
    options: type[StrictOptions]
    factory: SamplerFactory
    # Samplers whose draws come from a sequence shared through the study (grid, QMC) must
    # see the same seed in every worker; the others get a per-trial seed so parallel workers
    # do not draw identical configurations.
    shared_seed: bool = False


def _tpe(o: TPEOptions, seed: int | None, _: SearchSpace) -> optuna.samplers.BaseSampler:
    tpe = optuna.samplers.TPESampler(
        seed=seed,
        n_startup_trials=o.n_startup_trials,
        n_ei_candidates=o.n_ei_candidates,
        multivariate=o.multivariate,
        constant_liar=o.constant_liar,
    )
    if not o.explore_without_signal and o.random_fraction == 0:
        return tpe
    return SignalGuardedSampler(tpe, optuna.samplers.RandomSampler(seed=seed),
                                min_improvement=o.min_improvement,
                                random_fraction=o.random_fraction,
                                guard=o.explore_without_signal, seed=seed)


def _cmaes(o: CmaEsOptions, seed: int | None, _: SearchSpace) -> optuna.samplers.BaseSampler:
    return optuna.samplers.CmaEsSampler(
        seed=seed,
        n_startup_trials=o.n_startup_trials,
        sigma0=o.sigma0,
        with_margin=o.with_margin,
        consider_pruned_trials=o.consider_pruned_trials,
        warn_independent_sampling=False,
    )


def _gp(o: GPOptions, seed: int | None, _: SearchSpace) -> optuna.samplers.BaseSampler:
    return optuna.samplers.GPSampler(
        seed=seed,
        n_startup_trials=o.n_startup_trials,
        deterministic_objective=o.deterministic_objective,
    )


def _qmc(o: QMCOptions, seed: int | None, _: SearchSpace) -> optuna.samplers.BaseSampler:
    return optuna.samplers.QMCSampler(
        seed=seed, qmc_type=o.qmc_type, scramble=o.scramble, warn_independent_sampling=False
    )


def _grid(_: GridOptions, seed: int | None, space: SearchSpace) -> optuna.samplers.BaseSampler:
    return optuna.samplers.GridSampler(space.grid(), seed=seed)


def _nsgaii(o: NSGAIIOptions, seed: int | None, _: SearchSpace) -> optuna.samplers.BaseSampler:
    return optuna.samplers.NSGAIISampler(
        seed=seed,
        population_size=o.population_size,
        mutation_prob=o.mutation_prob,
        crossover_prob=o.crossover_prob,
    )


def _random(_: RandomOptions, seed: int | None, __: SearchSpace) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


SAMPLERS: dict[str, SamplerEntry] = {
    "tpe": SamplerEntry(TPEOptions, _tpe),
    "random": SamplerEntry(RandomOptions, _random),
    "cmaes": SamplerEntry(CmaEsOptions, _cmaes),
    "gp": SamplerEntry(GPOptions, _gp),
    "qmc": SamplerEntry(QMCOptions, _qmc, shared_seed=True),
    "grid": SamplerEntry(GridOptions, _grid, shared_seed=True),
    "nsgaii": SamplerEntry(NSGAIIOptions, _nsgaii),
}


def _entry(name: str) -> SamplerEntry:
    entry = SAMPLERS.get(name)
    if entry is None:
        raise UnknownNameError("sampler", name, SAMPLERS, loc=("sampler", "name"))
    return entry


def parse_sampler_options(name: str, raw: Mapping[str, Any]) -> StrictOptions:
    """Validate a sampler's options; unknown names list the valid ones."""
    return parse_options(_entry(name).options, raw, loc=("sampler",))


def build_sampler(
    name: str,
    raw_options: Mapping[str, Any],
    *,
    seed: int | None,
    slot: int,
    space: SearchSpace,
) -> optuna.samplers.BaseSampler:
    """A fresh sampler for the trial that fills budget ``slot`` (0-based)."""
    entry = _entry(name)
    options = parse_options(entry.options, raw_options, loc=("sampler",))
    trial_seed = seed
    if seed is not None and not entry.shared_seed:
        trial_seed = (seed * 1_000_003 + slot) % (2**31 - 1)
    return entry.factory(options, trial_seed, space)
