"""Optuna side of a study: sampler and pruner registries, spec resolution, the objective."""

# Parsing lives in service.specs; these stay importable from here for the scripts in bench/.
from service.specs import parse_spec_document, parse_spec_mapping
from service.tuning._evaluate import best_hparams, evaluate_best
from service.tuning._objective import (
    CheckpointSink,
    TrialInterrupted,
    TrialOutcome,
    make_objective,
)
from service.tuning._pruners import PRUNERS, build_pruner, parse_pruner_options
from service.tuning._resolve import DatasetSource, ResolvedStudy, resolve_spec
from service.tuning._samplers import SAMPLERS, build_sampler, parse_sampler_options
from service.tuning._selection import Selection, best_stopped_trial, select_best
from service.tuning._verdict import final_baselines, headline_metric, verdict

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "CheckpointSink",
    "DatasetSource",
    "ResolvedStudy",
    "Selection",
    "TrialInterrupted",
    "TrialOutcome",
    "best_hparams",
    "best_stopped_trial",
    "build_pruner",
    "build_sampler",
    "evaluate_best",
    "final_baselines",
    "headline_metric",
    "make_objective",
    "parse_pruner_options",
    "parse_sampler_options",
    "parse_spec_document",
    "parse_spec_mapping",
    "resolve_spec",
    "select_best",
    "verdict",
]
