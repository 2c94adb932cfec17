"""bench/api_latency.py in quick mode serves a study and writes its figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import api_latency


@pytest.mark.slow
def test_api_latency_quick_mode_writes_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    results = api_latency.main(["--quick", "--write-doc", "--doc", str(doc)])
    assert [r.case for r in results] == ["running", "completed"]
    assert all(not r.errors and len(r.latencies_ms) == 3 for r in results)
    text = doc.read_text()
    assert api_latency.SECTION_TITLE in text and "p99" in text
