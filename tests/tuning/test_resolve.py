"""Parsing and resolving whole study specs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.config import default_search_spaces_dir
from service.errors import MalformedDocumentError, SpecError, UnknownNameError
from service.schemas import StudySpec
from service.spaces import compile_space, list_space_names, load_space_file
from service.specs import parse_spec_document, parse_spec_mapping
from service.tuning import ResolvedStudy, resolve_spec

SPACES_DIR = default_search_spaces_dir()

DESIGN_EXAMPLE = """\
name: adding-lstm                 # optional, unique
task: {name: adding, seq_len: 50} # a built-in task with its options, or a dataset id
search_space: lstm                # a file of search_spaces/ by name, or an inline mapping
objective: {metric: val_loss, direction: minimize}
sampler: {name: tpe, seed: 0}
pruner: {name: median, n_warmup_steps: 2}
budget: {n_trials: 20, max_epochs: 10, timeout_s: 3600}
"""

DESIGN_MAPPING: dict[str, Any] = {
    "name": "adding-lstm",
    "task": {"name": "adding", "seq_len": 50},
    "search_space": "lstm",
    "objective": {"metric": "val_loss", "direction": "minimize"},
    "sampler": {"name": "tpe", "seed": 0},
    "pruner": {"name": "median", "n_warmup_steps": 2},
    "budget": {"n_trials": 20, "max_epochs": 10, "timeout_s": 3600},
}

INLINE_SPACE: dict[str, Any] = {
    "params": {
        "cell": {"type": "categorical", "choices": ["lstm", "gru"]},
        "num_layers": {"type": "int", "low": 1, "high": 2},
    }
}


def _spec(**changes: Any) -> StudySpec:
    data = json.loads(json.dumps(DESIGN_MAPPING))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return parse_spec_mapping(data)


def _resolve_error(**changes: Any) -> SpecError:
    spec = _spec(**changes)
    with pytest.raises(SpecError) as info:
        resolve_spec(spec, spaces_dir=SPACES_DIR)
    return info.value


# --- parse_spec_document -------------------------------------------------------------------


def test_design_example_yaml_parses() -> None:
    spec = parse_spec_document(DESIGN_EXAMPLE)
    assert spec.name == "adding-lstm"
    assert spec.task.name == "adding"
    assert spec.task.options() == {"seq_len": 50}
    assert spec.search_space == "lstm"
    assert spec.objective.metric == "val_loss"
    assert spec.objective.direction == "minimize"
    assert spec.sampler.name == "tpe" and spec.sampler.seed == 0
    assert spec.pruner.name == "median" and spec.pruner.options() == {"n_warmup_steps": 2}
    assert spec.budget.n_trials == 20
    assert spec.budget.max_epochs == 10
    assert spec.budget.timeout_s == 3600


def test_json_equivalent_parses_the_same() -> None:
    from_yaml = parse_spec_document(DESIGN_EXAMPLE)
    from_json = parse_spec_document(json.dumps(DESIGN_MAPPING))
    from_bytes = parse_spec_document(json.dumps(DESIGN_MAPPING).encode())
    assert from_json.model_dump() == from_yaml.model_dump()
    assert from_bytes.model_dump() == from_yaml.model_dump()


def test_defaults_fill_a_minimal_spec() -> None:
    spec = parse_spec_document("task: {name: adding}\nsearch_space: gru\n")
    assert spec.sampler.name == "tpe"
    assert spec.pruner.name == "plateau_asha"
    assert spec.budget.n_trials >= 1
    assert spec.objective.direction is None
    assert spec.warm_start is None and "warm_start" not in spec.model_fields_set


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("task: {name: adding\n", id="unclosed flow mapping"),
        pytest.param("task: [1, 2\n", id="unclosed list"),
        pytest.param('{"task": {"name": "adding"}', id="json unclosed"),
        pytest.param("a: b: c\n", id="nested mapping on one line"),
        pytest.param(b"\xff\xfe task: 1", id="not utf-8"),
    ],
)
def test_malformed_documents(body: str | bytes) -> None:
    with pytest.raises(MalformedDocumentError):
        parse_spec_document(body)


@pytest.mark.parametrize("body", ["", "   \n\t\n", b"", "# only a comment\n"])
def test_empty_documents(body: str | bytes) -> None:
    with pytest.raises(MalformedDocumentError) as info:
        parse_spec_document(body)
    assert "empty" in info.value.message or "mapping" in info.value.message


@pytest.mark.parametrize("body", ["- a\n- b\n", "just text", "42", "[1, 2]", "null"])
def test_non_mapping_documents(body: str) -> None:
    with pytest.raises(MalformedDocumentError) as info:
        parse_spec_document(body)
    assert "mapping" in info.value.message or "empty" in info.value.message


def test_malformed_is_not_a_spec_error() -> None:
    # The API answers 400 for an unparseable body and 422 for a wrong spec.
    with pytest.raises(MalformedDocumentError) as info:
        parse_spec_document("task: [")
    assert not isinstance(info.value, SpecError)


def test_unknown_top_level_field() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec_document(DESIGN_EXAMPLE + "trials: 5\n")
    error = info.value
    assert error.loc == ("trials",)
    for field in ("name", "task", "search_space", "objective", "sampler", "pruner", "budget"):
        assert field in error.message


def test_unknown_budget_field_lists_budget_fields() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec_mapping({**DESIGN_MAPPING, "budget": {"n_trial": 5}})
    assert info.value.loc == ("budget", "n_trial")
    assert "n_trials" in info.value.message and "max_epochs" in info.value.message


@pytest.mark.parametrize("field", ["n_trials", "max_epochs"])
@pytest.mark.parametrize("value", [-1, 0])
def test_budget_must_be_positive(field: str, value: int) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec_mapping({**DESIGN_MAPPING, "budget": {field: value}})
    assert info.value.loc == ("budget", field)
    assert str(value) in info.value.message


def test_missing_task() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec_mapping({"search_space": "lstm"})
    assert info.value.loc == ("task",)


def test_all_field_problems_are_reported() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec_mapping({**DESIGN_MAPPING, "budget": {"n_trials": -1, "max_epochs": 0},
                            "extra": 1})
    locs = {loc for loc, _ in info.value.details}
    assert {("budget", "n_trials"), ("budget", "max_epochs"), ("extra",)} <= locs


# --- resolve_spec --------------------------------------------------------------------------


def test_design_example_resolves() -> None:
    resolved = resolve_spec(parse_spec_document(DESIGN_EXAMPLE), spaces_dir=SPACES_DIR)
    assert resolved.space_name == "lstm"
    assert resolved.space == compile_space(load_space_file("lstm", SPACES_DIR))
    assert resolved.task.name == "adding"
    assert resolved.metric == "val_loss"
    assert resolved.metric_key == "loss"
    assert resolved.direction == "minimize"


def test_direction_defaults_to_the_metric() -> None:
    resolved = resolve_spec(
        _spec(objective={"metric": "val_mse"}), spaces_dir=SPACES_DIR
    )
    assert resolved.direction == "minimize"
    assert resolved.metric == "val_mse"


def test_unknown_task_lists_tasks() -> None:
    error = _resolve_error(task={"name": "parity"})
    assert isinstance(error, UnknownNameError)
    assert error.loc == ("task", "name")
    assert "parity" in error.message and "adding" in error.message


@pytest.mark.parametrize(
    "task",
    [{"name": "adding", "seq_len": -1}, {"name": "adding", "seq_len": "50"},
     {"name": "adding", "length": 50}],
)
def test_bad_task_options(task: dict[str, Any]) -> None:
    error = _resolve_error(task=task)
    assert error.loc[0] == "task"
    assert error.loc != ("task",)
    assert not isinstance(error, UnknownNameError)


def test_unknown_space_name_lists_names() -> None:
    error = _resolve_error(search_space="transformer")
    assert isinstance(error, UnknownNameError)
    assert error.loc == ("search_space",)
    for name in list_space_names(SPACES_DIR):
        assert name in error.message


def test_inline_space_errors_are_located_under_search_space() -> None:
    error = _resolve_error(search_space={"params": {"hidden_size": {"type": "int", "low": 0,
                                                                     "high": 8}}})
    assert error.loc == ("search_space", "params", "hidden_size", "low")


def test_metric_not_offered_by_task() -> None:
    error = _resolve_error(objective={"metric": "val_accuracy"})
    assert error.loc == ("objective", "metric")
    assert "val_accuracy" in error.message
    for metric in ("val_loss", "val_mse", "val_rmse", "val_mae"):
        assert metric in error.message


def test_direction_against_the_metric() -> None:
    error = _resolve_error(objective={"metric": "val_loss", "direction": "maximize"})
    assert error.loc == ("objective", "direction")
    assert "maximize" in error.message and "minimize" in error.message


def test_sampler_and_pruner_names_and_options_are_checked() -> None:
    assert isinstance(_resolve_error(sampler={"name": "bayes"}), UnknownNameError)
    assert _resolve_error(sampler={"name": "tpe", "n_startup_trials": -1}).loc == (
        "sampler", "n_startup_trials"
    )
    assert isinstance(_resolve_error(pruner={"name": "asha"}), UnknownNameError)
    error = _resolve_error(pruner={"name": "hyperband", "min_resource": 20})
    assert error.loc == ("pruner", "min_resource")
    assert "10" in error.message  # the study's max_epochs


def test_grid_larger_budget_than_grid() -> None:
    # INLINE_SPACE has 2 x 2 = 4 points.
    ok = resolve_spec(
        _spec(search_space=INLINE_SPACE, sampler={"name": "grid"},
              budget={"n_trials": 4, "max_epochs": 10}),
        spaces_dir=SPACES_DIR,
    )
    assert ok.space.grid_size(ok.space.grid()) == 4
    error = _resolve_error(search_space=INLINE_SPACE, sampler={"name": "grid"},
                           budget={"n_trials": 5, "max_epochs": 10})
    assert error.loc == ("budget", "n_trials")
    assert "4" in error.message and "5" in error.message


def test_grid_on_a_space_without_steps() -> None:
    error = _resolve_error(sampler={"name": "grid"})  # lstm: dropout and lr are continuous
    assert error.loc == ("search_space", "params", "dropout", "step")


def test_bidirectional_allowed_on_adding() -> None:
    space = {"params": {"bidirectional": {"type": "categorical", "choices": [False, True]}}}
    resolved = resolve_spec(_spec(search_space=space), spaces_dir=SPACES_DIR)
    assert resolved.space.names == ["bidirectional"]


# Every shipped space that the adding task (regression) can use: not the forecasting and
# classification ones, whose task-specific options a regression task refuses.
@pytest.mark.parametrize(
    "space_name",
    [n for n in list_space_names(SPACES_DIR) if n not in ("forecasting", "classification")],
)
def test_stored_spec_is_self_contained(space_name: str, tmp_path: Path) -> None:
    resolved = resolve_spec(_spec(search_space=space_name), spaces_dir=SPACES_DIR)
    stored = resolved.stored_spec()
    # It is plain JSON, with the space inlined and the defaults made explicit.
    assert json.loads(json.dumps(stored)) == stored
    assert isinstance(stored["search_space"], dict)
    assert stored["search_space"]["params"] == resolved.space.describe()
    assert stored["objective"] == {"metric": "val_loss", "direction": "minimize"}
    assert stored["task"]["name"] == "adding"
    assert stored["task"]["seq_len"] == 50
    assert "n_train" in stored["task"]
    assert stored["pruner"] == {"name": "median", "n_warmup_steps": 2}

    again = _resolved_without_spaces(stored, tmp_path)
    assert again.space == resolved.space
    assert again.space.describe() == resolved.space.describe()
    assert again.space.description == resolved.space.description
    assert again.space_name is None
    assert again.stored_spec() == stored
    # And through YAML, as a user re-submitting it would. Parameter order matters (a condition
    # may only name a parameter above it), so the keys must not be sorted.
    via_yaml = parse_spec_document(yaml.safe_dump(stored, sort_keys=False))
    assert resolve_spec(via_yaml, spaces_dir=tmp_path / "no-spaces").space == resolved.space


def _resolved_without_spaces(stored: dict[str, Any], tmp_path: Path) -> ResolvedStudy:
    """A stored spec resolved again where no search space file exists: it must need none."""
    empty = tmp_path / "no-spaces"
    empty.mkdir()
    return resolve_spec(parse_spec_mapping(stored), spaces_dir=empty)


def test_stored_spec_keeps_multi_test_conditions(tmp_path: Path) -> None:
    space = {"params": {
        "num_layers": {"type": "int", "low": 1, "high": 4},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5,
                    "when": {"num_layers": {"gt": 1, "lt": 4}}},
    }}
    resolved = resolve_spec(_spec(search_space=space), spaces_dir=SPACES_DIR)
    again = resolve_spec(parse_spec_mapping(resolved.stored_spec()), spaces_dir=tmp_path)
    assert again.space == resolved.space


def test_validation_splits_that_leave_too_little_to_train_on_are_refused() -> None:
    def spec(splits: int) -> StudySpec:
        return parse_spec_mapping({
            "task": {"name": "sunspots"}, "search_space": "forecasting",
            "budget": {"n_trials": 60},
            "evaluation": {"seeds": 1, "validation": {"scheme": "repeated", "splits": splits}},
        })

    resolve_spec(spec(3), spaces_dir=SPACES_DIR)
    # Window 40 (the space's largest) leaves 151 training windows; six 30-year stretches
    # back from 1920 leave one.
    with pytest.raises(SpecError, match="rolling-origin split 6 of 6 leaves 1 training") as err:
        resolve_spec(spec(6), spaces_dir=SPACES_DIR)
    assert err.value.loc == ("evaluation", "validation", "splits")


def test_the_classification_space_is_self_contained_on_a_classification_task(
        tmp_path: Path) -> None:
    spec = _spec(search_space="classification", task={"name": "japanese_vowels"})
    resolved = resolve_spec(spec, spaces_dir=SPACES_DIR)
    assert "linear_path" in resolved.space.names
    stored = resolved.stored_spec()
    again = _resolved_without_spaces(stored, tmp_path)
    assert again.space == resolved.space and again.stored_spec() == stored


def test_the_classification_space_on_a_regression_task_says_why_not() -> None:
    error = _resolve_error(search_space="classification")
    assert error.loc == ("search_space", "params", "linear_path")
    assert "applies only to classification tasks" in str(error)
