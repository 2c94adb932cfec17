"""Declarative search spaces: YAML/JSON mapping -> validated ``SearchSpace`` -> suggest(trial).

Also the hyperparameter catalog, the configurations worth trying first in a space, and the
one YAML loader for everything users write (specs, sweeps and the space files).
"""

from service.spaces._catalog import CATALOG, HParam, defaults
from service.spaces._compile import compile_space
from service.spaces._loader import list_space_names, load_space_file
from service.spaces._params import (
    CategoricalParam,
    Condition,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
)
from service.spaces._space import SearchSpace
from service.spaces._warm_start import best_practice_trials
from service.spaces._yaml import load_untrusted_document, load_untrusted_yaml

__all__ = [
    "CATALOG",
    "CategoricalParam",
    "Condition",
    "FixedParam",
    "FloatParam",
    "HParam",
    "IntParam",
    "Param",
    "SearchSpace",
    "best_practice_trials",
    "compile_space",
    "defaults",
    "list_space_names",
    "load_space_file",
    "load_untrusted_document",
    "load_untrusted_yaml",
]
