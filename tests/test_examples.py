"""The shipped example specs are valid studies and use the default search (sampler and
pruner left to the defaults, only the sampler's seed set), as the README says."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from service.specs import parse_spec_document
from service.tuning import resolve_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.yaml"))


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_an_example_resolves_with_the_default_search(path: Path) -> None:
    text = path.read_text()
    raw = yaml.safe_load(text)
    assert "pruner" not in raw and set(raw.get("sampler", {})) <= {"seed"}
    resolved = resolve_spec(parse_spec_document(text), spaces_dir=ROOT / "search_spaces")
    assert resolved.spec.sampler.name == "tpe"
    assert resolved.spec.pruner.name == "plateau_asha"
