"""bench/service_cost.py in quick mode runs a study through the service and in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import service_cost


@pytest.mark.slow
def test_service_cost_quick_mode_writes_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    result = service_cost.main(["--quick", "--write-doc", "--doc", str(doc)])
    [repeat] = result.repeats
    assert repeat.service.n_finished == repeat.sqlite.n_finished == result.trials
    assert repeat.memory.n_finished == result.trials
    text = doc.read_text()
    assert service_cost.SECTION_TITLE in text and "service / this" in text
