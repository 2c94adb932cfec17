"""bench/search_ab.py on made-up runs: epochs to each target per version, and the ratio."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import _anytime as anytime
from bench import search_ab


def _run(seed: int, values: list[float]) -> anytime.RunRecord:
    """One trial reporting ``values``, one epoch each, ending at 1, 2, 3... seconds."""
    trial = anytime.TrialRecord(params={"lr": 0.01}, state="complete", values=values,
                                ends=[float(i + 1) for i in range(len(values))],
                                busy=[(0.0, float(len(values)))])
    return anytime.RunRecord(task="adding", setup="default", seed=seed,
                             config={"budget_s": 10.0, "max_epochs": 10, "workers": 2},
                             direction="minimize", budget_s=10.0, wall_s=10.0, trials=[trial],
                             timing="measured", load=(0.5, 0.5), foreign=0.0, facts="made up")


def test_it_compares_epochs_to_each_target_seed_by_seed(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    # Before: 0.01 reached at epoch 4 in both seeds; after: at epoch 2 (seed 0) and 1 (seed 1),
    # and 0.003 at epoch 3 of seed 0 only.
    for seed, (old, new) in enumerate([([0.2, 0.1, 0.05, 0.009], [0.2, 0.009, 0.002]),
                                        ([0.2, 0.1, 0.05, 0.008], [0.009])]):
        _run(seed, old).save(before / "adding" / "default" / f"seed-{seed}.json")
        _run(seed, new).save(after / "adding" / "default" / f"seed-{seed}.json")
    search_ab.main(["--before", str(before), "--after", str(after)])
    out = capsys.readouterr().out
    assert "adding (val_mse), seeds [0, 1]" in out
    # Medians: before 4 epochs, after 1.5; per-seed ratios 2 and 4, median 3.
    assert "| 0.01 | 4 ep (2/2) | 2 ep (2/2) | 3.0x |" in out
    assert "| 0.01 | 4, 4 | 2, 1 |" in out  # seed by seed
    # Not reached: the whole run's epochs as a bound (after's seed 1 ran one epoch).
    assert "| 0.003 | >=4, >=4 | 3, >=1 |" in out
    assert "japanese_vowels" not in out  # no runs of it: left out
