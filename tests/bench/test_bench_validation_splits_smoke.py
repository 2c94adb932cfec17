"""bench.validation_splits in quick mode trains every seed on every split of each
configuration and compares the ways of scoring them (no figure is asserted)."""

from __future__ import annotations

from pathlib import Path

from bench import validation_splits


def test_validation_splits_quick_mode_scores_each_configuration(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    result = validation_splits.main(["sunspots", "--seeds", "2", "--splits", "2", "--quick",
                          "--out", str(out)])
    assert out.exists() and len(result["configs"]) == 2
    for config in result["configs"]:
        assert [len(row) for row in config["val"]] == [2, 2] and len(config["test"]) == 2
    assert set(result["scores"]) == {"study split, seed 0", "study split, every seed",
                                     "every split, seed 0", "every split and seed"}
