"""bench/gpu_share.py on the CPU (--cpu --quick): the pool runs, trials are counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import gpu_share


@pytest.mark.slow
def test_gpu_share_cpu_mode_counts_trials_and_writes_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    saved = tmp_path / "results.json"
    results = gpu_share.main(["--cpu", "--quick", "--models", "adding", "--per-gpu", "1",
                              "--save", str(saved), "--write-doc", "--doc", str(doc)])
    [result] = results
    assert result["trials_in_window"] > 0 and result["devices"] == ["cpu"]
    text = doc.read_text()
    assert gpu_share.SECTION_TITLE in text and "| 1 |" in text
    again = gpu_share.main(["--load", str(saved)])
    assert again == results
