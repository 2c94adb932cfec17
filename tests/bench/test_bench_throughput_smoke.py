"""bench/throughput.py in quick mode runs the worker pool and the plain script."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import throughput


@pytest.mark.slow
def test_throughput_quick_mode_writes_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    result = throughput.main(["--quick", "--write-doc", "--doc", str(doc)])
    assert [r.n_finished for r in result.service] == [result.trials]
    assert [r.n_finished for r in result.script] == [result.trials]
    text = doc.read_text()
    assert throughput.SECTION_TITLE in text and "trials per hour" in text
