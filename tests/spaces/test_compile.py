"""Compiling declarative search spaces: shipped files, parameter kinds, conditions, errors."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from service.config import default_search_spaces_dir
from service.errors import SpecError
from service.spaces import (
    CATALOG,
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    SearchSpace,
    compile_space,
    list_space_names,
    load_space_file,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACES_DIR = default_search_spaces_dir()
SHIPPED = list_space_names(SPACES_DIR)


def _space(params: dict[str, Any], **kwargs: Any) -> SearchSpace:
    return compile_space({"params": params}, **kwargs)


def _spec_error(params: Any, **kwargs: Any) -> SpecError:
    raw = params if not isinstance(params, dict) or "params" in params else {"params": params}
    with pytest.raises(SpecError) as info:
        compile_space(raw, **kwargs)
    return info.value


# --- shipped files -------------------------------------------------------------------------


def test_shipped_spaces_are_found() -> None:
    assert {"lstm", "gru", "rnn", "mixed"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_space_compiles_and_suggests(name: str) -> None:
    space = compile_space(load_space_file(name, SPACES_DIR))
    assert space.params
    assert set(space.names) <= set(CATALOG)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(3):
        trial = study.ask()
        values = space.suggest(trial)
        study.tell(trial, 0.0)
        full = space.resolve(values)
        for key, value in full.items():
            assert CATALOG[key].check(value) is None, (key, value)


def test_mixed_space_has_conditional_params() -> None:
    space = compile_space(load_space_file("mixed", SPACES_DIR))
    conditional = {p.name for p in space.params if p.when}
    assert {"dropout", "momentum", "nonlinearity", "forget_bias"} <= conditional


# --- parameter kinds and describe() --------------------------------------------------------


def test_parameter_kinds_compile() -> None:
    space = _space(
        {
            "cell": "gru",
            "num_layers": 2,
            "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
            "hidden_size": {"type": "int", "low": 16, "high": 256, "log": True},
            "batch_size": {"type": "int", "low": 32, "high": 128, "step": 32},
            "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
            "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
            "bidirectional": {"type": "fixed", "value": True},
        }
    )
    by_name = {p.name: p for p in space.params}
    assert by_name["cell"] == FixedParam("cell", "gru")
    assert by_name["num_layers"] == FixedParam("num_layers", 2)
    assert by_name["optimizer"] == CategoricalParam("optimizer", ("adam", "sgd"))
    assert by_name["hidden_size"] == IntParam("hidden_size", 16, 256, 1, True)
    assert by_name["batch_size"] == IntParam("batch_size", 32, 128, 32, False)
    assert by_name["lr"] == FloatParam("lr", 1e-4, 1e-1, None, True)
    assert by_name["dropout"] == FloatParam("dropout", 0.0, 0.5, 0.1, False)
    assert by_name["bidirectional"] == FixedParam("bidirectional", True)
    assert space.names == list(by_name)  # declaration order is kept

    values = space.suggest(optuna.trial.FixedTrial(
        {"optimizer": "sgd", "hidden_size": 32, "batch_size": 64, "lr": 0.01, "dropout": 0.2}
    ))
    assert values == {
        "cell": "gru", "num_layers": 2, "optimizer": "sgd", "hidden_size": 32,
        "batch_size": 64, "lr": 0.01, "dropout": 0.2, "bidirectional": True,
    }


def test_fixed_int_value_given_as_integral_float_becomes_int() -> None:
    (param,) = _space({"num_layers": 2.0}).params
    assert param == FixedParam("num_layers", 2)
    assert type(param.value) is int


ROUND_TRIP = {
    "cell": {"type": "categorical", "choices": ["rnn", "lstm", "gru"]},
    "nonlinearity": {"type": "categorical", "choices": ["tanh", "relu"], "when": {"cell": "rnn"}},
    "forget_bias": {"type": "fixed", "value": 1.0, "when": {"cell": {"ne": "rnn"}}},
    "hidden_size": {"type": "int", "low": 16, "high": 256, "log": True},
    "num_layers": {"type": "int", "low": 1, "high": 4},
    "dropout": {
        "type": "float", "low": 0.0, "high": 0.5, "step": 0.1,
        "when": {"num_layers": {"gt": 1, "lt": 4}},
    },
    "batch_size": {"type": "int", "low": 32, "high": 128, "step": 32},
    "optimizer": {"type": "categorical", "choices": ["adam", "sgd", "rmsprop"]},
    "momentum": {
        "type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": {"in": ["sgd", "rmsprop"]}}
    },
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "grad_clip": 5.0,
}


def test_describe_round_trips() -> None:
    space = compile_space({"params": ROUND_TRIP, "description": "all kinds"})
    described = space.describe()
    again = compile_space({"params": described, "description": space.description})
    assert again.describe() == described
    assert again == space
    # Several tests on one parameter must all survive the trip.
    assert described["dropout"]["when"] == {"num_layers": {"gt": 1, "lt": 4}}
    assert described["nonlinearity"]["when"] == {"cell": "rnn"}
    assert described["grad_clip"] == {"type": "fixed", "value": 5.0}


# --- conditional parameters ----------------------------------------------------------------

DROPOUT_SPACE = {
    "num_layers": {"type": "int", "low": 1, "high": 3},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5, "when": {"num_layers": {"gt": 1}}},
}


def test_condition_gt_with_fixed_trial() -> None:
    space = _space(DROPOUT_SPACE)
    assert space.suggest(optuna.trial.FixedTrial({"num_layers": 1, "dropout": 0.2})) == {
        "num_layers": 1
    }
    assert space.suggest(optuna.trial.FixedTrial({"num_layers": 2, "dropout": 0.2})) == {
        "num_layers": 2, "dropout": 0.2
    }


def test_condition_gt_in_a_study() -> None:
    space = _space(DROPOUT_SPACE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study.enqueue_trial({"num_layers": 1, "dropout": 0.3})
    study.enqueue_trial({"num_layers": 3, "dropout": 0.3})
    study.optimize(lambda t: float(len(space.suggest(t))), n_trials=2)
    first, second = study.trials
    assert first.params == {"num_layers": 1}
    assert second.params == {"num_layers": 3, "dropout": 0.3}


def test_condition_in_operator() -> None:
    space = _space({
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd", "rmsprop"]},
        "momentum": {
            "type": "float", "low": 0.0, "high": 0.99,
            "when": {"optimizer": {"in": ["sgd", "rmsprop"]}},
        },
    })
    for optimizer, present in (("adam", False), ("sgd", True), ("rmsprop", True)):
        values = space.suggest(optuna.trial.FixedTrial({"optimizer": optimizer, "momentum": 0.5}))
        assert ("momentum" in values) is present, optimizer


def test_condition_eq_plain_scalar() -> None:
    space = _space({
        "cell": {"type": "categorical", "choices": ["rnn", "lstm"]},
        "nonlinearity": {
            "type": "categorical", "choices": ["tanh", "relu"], "when": {"cell": "rnn"}
        },
    })
    (param,) = [p for p in space.params if p.name == "nonlinearity"]
    assert [(c.param, c.op, c.value) for c in param.when] == [("cell", "eq", "rnn")]
    rnn = space.suggest(optuna.trial.FixedTrial({"cell": "rnn", "nonlinearity": "relu"}))
    lstm = space.suggest(optuna.trial.FixedTrial({"cell": "lstm", "nonlinearity": "relu"}))
    assert rnn == {"cell": "rnn", "nonlinearity": "relu"}
    assert lstm == {"cell": "lstm"}


def test_condition_ne_operator() -> None:
    space = _space({
        "cell": {"type": "categorical", "choices": ["rnn", "lstm", "gru"]},
        "recurrent_init": {
            "type": "categorical", "choices": ["default", "orthogonal"],
            "when": {"cell": {"ne": "rnn"}},
        },
    })
    for cell, present in (("rnn", False), ("lstm", True), ("gru", True)):
        values = space.suggest(
            optuna.trial.FixedTrial({"cell": cell, "recurrent_init": "orthogonal"})
        )
        assert ("recurrent_init" in values) is present, cell


def test_condition_on_inactive_param_makes_dependent_inactive() -> None:
    # grad_clip depends on nonlinearity, which exists only for the plain RNN. With `ne`, a naive
    # check ("absent" != "tanh") would wrongly activate it for the LSTM.
    space = _space({
        "cell": {"type": "categorical", "choices": ["rnn", "lstm"]},
        "nonlinearity": {
            "type": "categorical", "choices": ["tanh", "relu"], "when": {"cell": "rnn"}
        },
        "grad_clip": {
            "type": "float", "low": 0.5, "high": 5.0, "when": {"nonlinearity": {"ne": "tanh"}}
        },
    })
    params = {"nonlinearity": "relu", "grad_clip": 2.0}
    assert space.suggest(optuna.trial.FixedTrial({"cell": "lstm", **params})) == {"cell": "lstm"}
    assert space.suggest(optuna.trial.FixedTrial({"cell": "rnn", **params})) == {
        "cell": "rnn", "nonlinearity": "relu", "grad_clip": 2.0
    }
    tanh = space.suggest(optuna.trial.FixedTrial({"cell": "rnn", "nonlinearity": "tanh"}))
    assert tanh == {"cell": "rnn", "nonlinearity": "tanh"}


def test_condition_on_fixed_param() -> None:
    space = _space({
        "cell": "lstm",
        "forget_bias": {"type": "float", "low": 0.0, "high": 2.0, "when": {"cell": "lstm"}},
    })
    assert space.suggest(optuna.trial.FixedTrial({"forget_bias": 1.5})) == {
        "cell": "lstm", "forget_bias": 1.5
    }


# --- errors --------------------------------------------------------------------------------

P = ("search_space", "params")

ERROR_CASES: list[tuple[str, dict[str, Any], tuple[Any, ...], list[str]]] = [
    ("empty choices", {"cell": {"type": "categorical", "choices": []}},
     (*P, "cell", "choices"), ["non-empty"]),
    ("choices not a list", {"cell": {"type": "categorical", "choices": "lstm"}},
     (*P, "cell", "choices"), ["non-empty list"]),
    ("duplicate choices", {"cell": {"type": "categorical", "choices": ["lstm", "gru", "lstm"]}},
     (*P, "cell", "choices"), ["repeat", "lstm"]),
    ("low >= high", {"hidden_size": {"type": "int", "low": 64, "high": 16}},
     (*P, "hidden_size"), ["64", "16"]),
    ("low == high", {"lr": {"type": "float", "low": 0.01, "high": 0.01}},
     (*P, "lr"), ["0.01"]),
    ("log with low 0", {"weight_decay": {"type": "float", "low": 0.0, "high": 0.1, "log": True}},
     (*P, "weight_decay", "low"), ["log", "0.0"]),
    ("step larger than range", {"num_layers": {"type": "int", "low": 1, "high": 3, "step": 5}},
     (*P, "num_layers", "step"), ["5", "1..3"]),
    ("step with log on float",
     {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True, "step": 0.01}},
     (*P, "lr", "step"), ["log"]),
    ("non-positive step", {"dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0}},
     (*P, "dropout", "step"), ["positive", "0"]),
    ("non-integer step for int", {"num_layers": {"type": "int", "low": 1, "high": 4, "step": 1.5}},
     (*P, "num_layers", "step"), ["1.5"]),
    ("non-integer low for int", {"hidden_size": {"type": "int", "low": 1.5, "high": 64}},
     (*P, "hidden_size", "low"), ["integer", "1.5"]),
    ("non-number bound", {"hidden_size": {"type": "int", "low": "16", "high": 64}},
     (*P, "hidden_size", "low"), ["'16'"]),
    ("missing bound", {"lr": {"type": "float", "low": 1e-4}},
     (*P, "lr", "high"), ["None"]),
    ("float type for int param", {"hidden_size": {"type": "float", "low": 16, "high": 64}},
     (*P, "hidden_size", "type"), ["int"]),
    ("range type for categorical param", {"cell": {"type": "int", "low": 1, "high": 2}},
     (*P, "cell", "type"), ["categorical"]),
    ("unknown hyperparameter", {"learning_rate": {"type": "float", "low": 0.1, "high": 1}},
     (*P, "learning_rate"), ["learning_rate", "lr", "hidden_size", "num_layers", "dropout"]),
    ("unknown type", {"lr": {"type": "uniform", "low": 0.1, "high": 1}},
     (*P, "lr", "type"), ["uniform", "int", "float", "categorical", "fixed"]),
    ("missing type", {"lr": {"low": 0.1, "high": 1}},
     (*P, "lr", "type"), ["None", "float"]),
    ("unhashable type", {"lr": {"type": ["float"], "low": 0.1, "high": 1}},
     (*P, "lr", "type"), ["['float']"]),
    ("unknown keys", {"num_layers": {"type": "int", "low": 1, "high": 3, "default": 2}},
     (*P, "num_layers"), ["default", "step"]),
    ("fixed without value", {"num_layers": {"type": "fixed"}},
     (*P, "num_layers"), ["value"]),
    ("fixed value outside catalog", {"num_layers": 9},
     (*P, "num_layers", "value"), ["9", "8"]),
    ("hidden_size low 0", {"hidden_size": {"type": "int", "low": 0, "high": 64}},
     (*P, "hidden_size", "low"), ["0", ">= 1"]),
    ("dropout high 1.5", {"dropout": {"type": "float", "low": 0.0, "high": 1.5}},
     (*P, "dropout", "high"), ["1.5", "0.95"]),
    ("lr low 0", {"lr": {"type": "float", "low": 0.0, "high": 0.1}},
     (*P, "lr", "low"), ["0.0", "> 0"]),
    ("huge integer bound", {"hidden_size": {"type": "int", "low": 16, "high": 10**400}},
     (*P, "hidden_size", "high"), ["finite"]),
    ("choice not allowed", {"cell": {"type": "categorical", "choices": ["lstm", "transformer"]}},
     (*P, "cell", "choices", 1), ["transformer", "rnn", "lstm", "gru"]),
    ("bool choice for int", {"batch_size": {"type": "categorical", "choices": [32, True]}},
     (*P, "batch_size", "choices", 1), ["True"]),
    ("when on a later param", {
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "when": {"num_layers": {"gt": 1}}},
        "num_layers": {"type": "int", "low": 1, "high": 3},
    }, (*P, "dropout", "when", "num_layers"), ["num_layers", "above"]),
    ("when on an undefined param", {
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "when": {"layers": {"gt": 1}}},
    }, (*P, "dropout", "when", "layers"), ["layers"]),
    ("when not a mapping", {
        "num_layers": {"type": "int", "low": 1, "high": 3},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "when": ["num_layers"]},
    }, (*P, "dropout", "when"), ["mapping"]),
    ("unknown operator", {
        "num_layers": {"type": "int", "low": 1, "high": 3},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "when": {"num_layers": {"gte": 1}}},
    }, (*P, "dropout", "when", "num_layers", "gte"), ["gte", "eq", "ne", "gt", "ge", "in"]),
    ("in without a list", {
        "cell": {"type": "categorical", "choices": ["rnn", "lstm"]},
        "nonlinearity": {
            "type": "categorical", "choices": ["tanh", "relu"], "when": {"cell": {"in": "rnn"}}
        },
    }, (*P, "nonlinearity", "when", "cell", "in"), ["list", "rnn"]),
    ("numeric operator with a string", {
        "cell": {"type": "categorical", "choices": ["rnn", "lstm"]},
        "nonlinearity": {
            "type": "categorical", "choices": ["tanh", "relu"], "when": {"cell": {"gt": "a"}}
        },
    }, (*P, "nonlinearity", "when", "cell", "gt"), ["number", "'a'"]),
    ("condition that can never hold", {
        "num_layers": {"type": "int", "low": 1, "high": 3},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "when": {"num_layers": {"gt": 5}}},
    }, (*P, "dropout", "when", "num_layers", "gt"), ["never", "5"]),
    ("eq a string on an int range", {
        "num_layers": {"type": "int", "low": 1, "high": 3},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "when": {"num_layers": "lstm"}},
    }, (*P, "dropout", "when", "num_layers", "eq"), ["never", "lstm"]),
    ("eq a missing choice", {
        "cell": {"type": "categorical", "choices": ["lstm", "gru"]},
        "nonlinearity": {
            "type": "categorical", "choices": ["tanh", "relu"], "when": {"cell": "rnn"}
        },
    }, (*P, "nonlinearity", "when", "cell", "eq"), ["never", "rnn"]),
    ("ne on a fixed value", {
        "cell": "rnn",
        "nonlinearity": {
            "type": "categorical", "choices": ["tanh", "relu"], "when": {"cell": {"ne": "rnn"}}
        },
    }, (*P, "nonlinearity", "when", "cell", "ne"), ["never", "rnn"]),
]


@pytest.mark.parametrize(
    ("params", "loc", "words"),
    [pytest.param(p, loc, w, id=case) for case, p, loc, w in ERROR_CASES],
)
def test_compile_errors(params: dict[str, Any], loc: tuple[Any, ...], words: list[str]) -> None:
    error = _spec_error(params)
    assert error.loc == loc
    assert len(error.details) == 1, error.details
    for word in words:
        assert word in error.message, (word, error.message)
    assert str(error).startswith(".".join(map(str, loc)))


def test_bidirectional_rejected_when_task_disallows() -> None:
    for spec in ({"type": "categorical", "choices": [False, True]}, True):
        error = _spec_error({"bidirectional": spec}, allows_bidirectional=False)
        assert error.loc == (*P, "bidirectional")
        assert "bidirectional" in error.message
    # Fixed to false is fine, and so is anything when the task allows it.
    assert _space({"bidirectional": False}, allows_bidirectional=False).names == ["bidirectional"]
    assert _space({"bidirectional": {"type": "categorical", "choices": [False, True]}}).names


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        pytest.param({}, (*P,), id="params missing"),
        pytest.param({"params": {}}, (*P,), id="params empty"),
        pytest.param({"params": ["lr"]}, (*P,), id="params a list"),
        pytest.param("lstm", ("search_space",), id="space a string"),
        pytest.param(None, ("search_space",), id="space None"),
    ],
)
def test_params_missing_or_not_a_mapping(raw: Any, loc: tuple[Any, ...]) -> None:
    with pytest.raises(SpecError) as info:
        compile_space(raw)
    assert info.value.loc == loc
    assert "mapping" in info.value.message


def test_unknown_top_level_keys() -> None:
    with pytest.raises(SpecError) as info:
        compile_space({"params": {"num_layers": 2}, "parameters": {}})
    assert info.value.loc == ("search_space",)
    assert "parameters" in info.value.message


def test_custom_loc_prefix() -> None:
    with pytest.raises(SpecError) as info:
        compile_space({"params": {"num_layers": 0}}, loc=("spec", "space"))
    assert info.value.loc == ("spec", "space", "params", "num_layers", "value")


def test_all_problems_are_reported() -> None:
    error = _spec_error({
        "hidden_size": {"type": "int", "low": 0, "high": 64},
        "dropout": {"type": "float", "low": 0.0, "high": 1.5},
        "cell": {"type": "categorical", "choices": ["lstm", "transformer"]},
        "learning_rate": 0.1,
        "lr": {"type": "float", "low": 0.1, "high": 0.01},
    })
    locs = [loc for loc, _ in error.details]
    assert locs == [
        (*P, "hidden_size", "low"),
        (*P, "dropout", "high"),
        (*P, "cell", "choices", 1),
        (*P, "learning_rate"),
        (*P, "lr"),
    ]
    assert error.loc == locs[0]
    assert "4 more" in error.message
    messages = " ".join(msg for _, msg in error.details)
    for word in ("1.5", "transformer", "learning_rate", "0.1"):
        assert word in messages


# --- grid and resolve ----------------------------------------------------------------------


def test_grid_of_categorical_int_and_stepped_float() -> None:
    space = _space({
        "cell": {"type": "categorical", "choices": ["lstm", "gru"]},
        "num_layers": {"type": "int", "low": 1, "high": 7, "step": 2},
        "hidden_size": {"type": "int", "low": 16, "high": 18},
        "dropout": {"type": "float", "low": 0.0, "high": 0.3, "step": 0.1},
        "batch_size": 64,
    })
    grid = space.grid()
    assert list(grid) == ["cell", "num_layers", "hidden_size", "dropout"]  # fixed left out
    assert grid["cell"] == ["lstm", "gru"]
    assert grid["num_layers"] == [1, 3, 5, 7]
    assert grid["hidden_size"] == [16, 17, 18]
    assert grid["dropout"] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert space.grid_size(grid) == 2 * 4 * 3 * 4


def test_grid_needs_a_step_on_floats() -> None:
    space = _space({
        "cell": {"type": "categorical", "choices": ["lstm", "gru"]},
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    })
    with pytest.raises(SpecError) as info:
        space.grid()
    assert info.value.loc == ("search_space", "params", "lr", "step")
    assert "lr" in info.value.message


def test_grid_too_large() -> None:
    space = _space({
        "hidden_size": {"type": "int", "low": 1, "high": 4096},
        "batch_size": {"type": "int", "low": 1, "high": 4096},
    })
    with pytest.raises(SpecError) as info:
        space.grid()
    assert info.value.loc == ("sampler", "name")
    assert str(4096 * 4096) in info.value.message


def test_resolve_fills_catalog_defaults() -> None:
    space = _space(DROPOUT_SPACE)
    values = space.suggest(optuna.trial.FixedTrial({"num_layers": 1}))
    full = space.resolve(values)
    # window has no default of its own: a forecasting task then uses its window option.
    assert set(full) == set(CATALOG) - {"window"}
    assert full["num_layers"] == 1
    assert full["dropout"] == CATALOG["dropout"].default
    assert full["lr"] == CATALOG["lr"].default
    assert full["cell"] == "lstm"
    assert space.resolve({"lr": 0.05, "cell": "gru"})["lr"] == 0.05
