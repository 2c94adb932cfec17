"""bench/trainer_cost.py in quick mode runs and writes its figures (none is asserted)."""

from __future__ import annotations

from pathlib import Path

from bench import trainer_cost


def test_trainer_cost_quick_mode_writes_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    results = trainer_cost.main(["--quick", "--write-doc", "--doc", str(doc)])
    assert results and all(r.bare_s and r.trainer_s for r in results)
    text = doc.read_text()
    assert trainer_cost.SECTION_TITLE in text and "Trainer / bare" in text
