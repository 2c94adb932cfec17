"""The late-plateau motif data set: what it writes and that a study can read it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.motif_data import MOTIFS, STEPS, main, make


def test_motif_rows_carry_their_class_motif_and_noise_rows_none() -> None:
    series, labels = make(60, np.random.default_rng(0))
    assert series.shape == (60, STEPS, 1) and set(labels.tolist()) <= {0, 1, 2}
    # The best match of each motif over all positions: its own class scores highest.
    def best_match(row: np.ndarray, motif: np.ndarray) -> float:
        return max(float(row[i:i + 4, 0] @ motif) for i in range(STEPS - 3))
    for label in (1, 2):
        own = [best_match(r, MOTIFS[label]) for r in series[labels == label]]
        noise = [best_match(r, MOTIFS[label]) for r in series[labels == 0]]
        assert np.median(own) > np.median(noise) + 5


def test_the_file_is_an_upload_with_a_train_and_test_split(tmp_path: Path) -> None:
    path = tmp_path / "motif.npz"
    main([str(path)])
    with np.load(path) as data:
        assert data["X"].shape == (800, STEPS, 1)
        assert sorted(set(data["split"].tolist())) == ["test", "train"]
