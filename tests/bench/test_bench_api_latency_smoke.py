"""bench/api_latency.py in quick mode serves a study and writes its figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench._load import load_script


@pytest.mark.slow
def test_api_latency_quick_mode_writes_its_section(tmp_path: Path) -> None:
    module = load_script("api_latency")
    doc = tmp_path / "benchmarks.md"
    results = module.main(["--quick", "--write-doc", "--doc", str(doc)])
    assert [r.case for r in results] == ["running", "completed"]
    assert all(not r.errors and len(r.latencies_ms) == 3 for r in results)
    text = doc.read_text()
    assert module.SECTION_TITLE in text and "p99" in text
