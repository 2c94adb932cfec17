"""bench/sampler_cost.py in quick mode asks every sampler and writes its figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import sampler_cost


@pytest.mark.slow
def test_sampler_cost_quick_mode_writes_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    results = sampler_cost.main(["--quick", "--write-doc", "--doc", str(doc)])
    assert set(results) == {"kept", "fresh"}
    for mode in results.values():
        assert {r.name for r in mode} == set(sampler_cost.SAMPLERS)
        assert all(r.asks for r in mode)
    text = doc.read_text()
    assert sampler_cost.SECTION_TITLE in text and "`tpe`" in text and "**Kept**" in text
