"""JSON documents read by the C parser give what the YAML loader gives, with its limits."""

from __future__ import annotations

import json

import pytest
import yaml

from service.spaces import load_untrusted_document, load_untrusted_yaml
from service.spaces._yaml import MAX_YAML_DEPTH


@pytest.mark.parametrize("text", [
    '{"task": {"name": "adding", "seq_len": 8}, "budget": {"n_trials": 3}}',
    '{"lr": {"low": 1e-5, "high": 1E-2, "log": true}, "x": null, "y": -0, "z": 1.0}',
    '{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1e400, "e": "yes", "f": "1e-5"}',
    '{"a": 1, "a": 2}',
    '{"name": "\\u00e9t\\u00e9", "tags": ["a", "b"], "nested": [[1, [2, {"k": [3]}]]]}',
    '  [1, 2, {"a": "b"}]  ',
    '{"a": 1,}',  # not JSON: a YAML flow mapping with a trailing comma
    '{a: 1, b: [x, y]}',  # not JSON: YAML flow style
    'task: {name: adding}\nbudget: {n_trials: 3}\n',  # YAML block style
])
def test_a_document_reads_as_the_yaml_loader_reads_it(text: str) -> None:
    assert load_untrusted_document(text) == load_untrusted_yaml(text)


def test_json_is_read_by_the_json_parser() -> None:
    # PyYAML refuses an implicit key longer than 1,024 characters; JSON has no such limit.
    text = json.dumps({"k" * 1100: 1})
    with pytest.raises(yaml.YAMLError):
        load_untrusted_yaml(text)
    assert load_untrusted_document(text) == {"k" * 1100: 1}


def nested(levels: int) -> str:
    return "[" * (levels - 1) + "1" + "]" * (levels - 1)  # a scalar counts as one level


@pytest.mark.parametrize("levels", [MAX_YAML_DEPTH - 1, MAX_YAML_DEPTH, MAX_YAML_DEPTH + 1,
                                    MAX_YAML_DEPTH + 2])
def test_the_depth_limit_is_the_yaml_loaders(levels: int) -> None:
    def outcome(load: object) -> str:
        try:
            load(nested(levels))  # type: ignore[operator]
        except yaml.YAMLError as exc:
            assert "levels deep" in str(exc)
            return "refused"
        return "read"

    assert outcome(load_untrusted_document) == outcome(load_untrusted_yaml)
    assert outcome(load_untrusted_document) == ("read" if levels <= MAX_YAML_DEPTH else "refused")


def test_json_nested_past_the_interpreters_recursion_is_refused() -> None:
    with pytest.raises(yaml.YAMLError, match="levels deep"):
        load_untrusted_document("[" * 100_000 + "]" * 100_000)
    with pytest.raises(yaml.YAMLError, match="levels deep"):
        load_untrusted_document('{"a": ' * 100_000 + "1" + "}" * 100_000)


@pytest.mark.parametrize("text", ['{"n": ' + "9" * 5000 + "}", "n: " + "9" * 5000])
def test_an_integer_of_thousands_of_digits_is_a_yaml_error(text: str) -> None:
    with pytest.raises(yaml.YAMLError, match="number out of range"):
        load_untrusted_document(text)
