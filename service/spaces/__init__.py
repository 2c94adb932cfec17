"""Declarative search spaces: YAML/JSON mapping -> validated ``SearchSpace`` -> suggest(trial)."""

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
    "compile_space",
    "defaults",
    "list_space_names",
    "load_space_file",
]
