"""Optuna side of a study: sampler and pruner registries, spec resolution, the objective."""

from service.tuning._evaluate import best_hparams, evaluate_best
from service.tuning._objective import (
    CheckpointSink,
    TrialInterrupted,
    TrialOutcome,
    make_objective,
)
from service.tuning._pruners import PRUNERS, build_pruner, parse_pruner_options
from service.tuning._resolve import (
    DatasetSource,
    ResolvedStudy,
    parse_spec_document,
    parse_spec_mapping,
    resolve_spec,
)
from service.tuning._samplers import SAMPLERS, build_sampler, parse_sampler_options

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "CheckpointSink",
    "DatasetSource",
    "ResolvedStudy",
    "TrialInterrupted",
    "TrialOutcome",
    "best_hparams",
    "build_pruner",
    "build_sampler",
    "evaluate_best",
    "make_objective",
    "parse_pruner_options",
    "parse_sampler_options",
    "parse_spec_document",
    "parse_spec_mapping",
    "resolve_spec",
]
