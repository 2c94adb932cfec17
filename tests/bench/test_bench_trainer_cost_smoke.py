"""bench.trainer_cost in quick mode: every repeat timed for both loops, the ratio is the
median of the per-repeat ratios, and the page shows those figures with the verdict they give
(no timing is asserted: a loaded machine may be slow)."""

from __future__ import annotations

import statistics
from pathlib import Path

from bench import trainer_cost
from bench._benchmarks_doc import fmt


def test_trainer_cost_quick_mode_writes_its_figures_and_verdict(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    results = trainer_cost.main(["--quick", "--write-doc", "--doc", str(doc)])
    assert [r.case for r in results] == list(trainer_cost.QUICK_CASES)
    text = doc.read_text()
    assert trainer_cost.SECTION_TITLE in text
    for result in results:
        assert len(result.bare_s) == len(result.trainer_s) == 2  # quick: 2 repeats
        assert all(t > 0 for t in (*result.bare_s, *result.trainer_s))
        per_repeat = [t / b for t, b in zip(result.trainer_s, result.bare_s, strict=True)]
        assert result.ratio == statistics.median(per_repeat)
        assert f"**{fmt(result.ratio, 3)}x**" in text
    worst = max(r.ratio for r in results)
    verdict = "met" if worst <= 1.05 else "**missed**"
    assert f"Worst case {worst:.3f}x: {verdict}." in text
