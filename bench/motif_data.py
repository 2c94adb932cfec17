"""A classification data set whose recurrent nets learn late: a motif hidden at a random place.

Three classes of one-feature series of 40 steps of standard normal noise: class 0 is noise
alone, classes 1 and 2 carry a motif of four steps (``+2 +2 -2 -2`` or ``-2 +2 -2 +2``) added
at a random position. The position varies, so a linear model of the flattened series is near
chance; a bidirectional GRU of 64 units (lr 0.003, batch 32) sits on the chance loss, ln 3, for
about 8 epochs and then reaches about 0.8 test accuracy by epoch 15. That is the plateau of
recurrent nets that a pruner must not mistake for a dead trial. 400 training and 400 test
series, with a ``split`` array of ``train``/``test`` (a study carves its validation part).

    python -m bench.motif_data motif.npz && rnntune datasets upload motif.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

STEPS = 40
MOTIFS = {1: np.array([2.0, 2.0, -2.0, -2.0]), 2: np.array([-2.0, 2.0, -2.0, 2.0])}


def make(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` series (n, STEPS, 1) and their classes (n,)."""
    labels = rng.integers(0, 3, size=n)
    series = rng.normal(0.0, 1.0, size=(n, STEPS, 1))
    for row, label in enumerate(labels):
        if label:
            start = rng.integers(0, STEPS - 4)
            series[row, start:start + 4, 0] += MOTIFS[int(label)]
    return series, labels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.motif_data",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="the NPZ file to write")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    train_x, train_y = make(400, rng)
    test_x, test_y = make(400, rng)
    np.savez(args.path, X=np.concatenate([train_x, test_x]).astype(np.float32),
             y=np.concatenate([train_y, test_y]),
             split=np.array(["train"] * 400 + ["test"] * 400))
    print(f"wrote {args.path}: 800 series, classes {np.bincount(train_y).tolist()} (train)")


if __name__ == "__main__":
    main()
