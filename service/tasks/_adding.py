"""The adding problem (Hochreiter & Schmidhuber 1997), a long-range memory benchmark.

Each sequence has two channels: random values in [0, 1] and a marker that is 1 at exactly two
steps, one in the first half and one in the second. The target is the sum of the two marked
values, so a model must carry the first one across up to ``seq_len`` steps.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Annotated, Any

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ._base import Baseline, SequenceSplit, Task, TaskData, _expect_options

# Bounds the memory one task can take: 2 float32 channels, so about 400 MB at the limit.
MAX_TIME_STEPS = 50_000_000


class AddingOptions(BaseModel):
    """Options of the adding problem."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Strict, so that true/false or "50" in a spec is an error rather than a silent coercion.
    seq_len: Annotated[int, Field(strict=True, ge=2, le=5000)] = 50
    n_train: Annotated[int, Field(strict=True, ge=16, le=200_000)] = 4096
    n_val: Annotated[int, Field(strict=True, ge=16, le=200_000)] = 1024
    n_test: Annotated[int, Field(strict=True, ge=16, le=200_000)] = 1024

    @model_validator(mode="after")
    def _bounded_size(self) -> AddingOptions:
        total = self.seq_len * (self.n_train + self.n_val + self.n_test)
        if total > MAX_TIME_STEPS:
            raise ValueError(
                f"seq_len * (n_train + n_val + n_test) = {total:,} time steps exceeds the "
                f"limit of {MAX_TIME_STEPS:,}; use fewer or shorter sequences"
            )
        return self


def _split_seed(seed: int, split: str) -> int:
    # Hashing gives each (seed, split) its own stream: no overlap between splits or seeds,
    # and the validation set does not change when n_train does.
    digest = hashlib.sha256(f"adding:{seed}:{split}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def generate_adding(n: int, seq_len: int, *, seed: int) -> SequenceSplit:
    """Generate ``n`` adding-problem sequences of length ``seq_len`` from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    values = torch.rand(n, seq_len, generator=gen)
    half = seq_len // 2
    first = torch.randint(0, half, (n, 1), generator=gen)
    second = torch.randint(half, seq_len, (n, 1), generator=gen)
    marker = torch.zeros(n, seq_len)
    marker.scatter_(1, first, 1.0)
    marker.scatter_(1, second, 1.0)
    target = values.gather(1, first) + values.gather(1, second)
    return SequenceSplit(x=torch.stack([values, marker], dim=2), y=target)


class AddingTask(Task):
    """The adding problem; predicting 1 always gives MSE 1/6, and MSE < 0.01 counts as solved."""

    name = "adding"
    kind = "regression"
    description = (
        "Adding problem (Hochreiter & Schmidhuber 1997): sum the two marked values of a "
        "random sequence; tests memory over seq_len steps."
    )
    allows_bidirectional = True
    Options = AddingOptions

    def load(
        self, options: BaseModel, *, seed: int, hparams: Mapping[str, Any] | None = None
    ) -> TaskData:
        """Generate the train, validation and test splits from ``seed``."""
        opts = _expect_options(self, options, AddingOptions)
        input_size, output_size, _ = self.shape(opts)
        return TaskData(
            train=generate_adding(opts.n_train, opts.seq_len, seed=_split_seed(seed, "train")),
            val=generate_adding(opts.n_val, opts.seq_len, seed=_split_seed(seed, "val")),
            test=generate_adding(opts.n_test, opts.seq_len, seed=_split_seed(seed, "test")),
            input_size=input_size,
            output_size=output_size,
            kind=self.kind,
        )

    def shape(self, options: BaseModel) -> tuple[int, int, int]:
        """(input size, output size, sequence length) without generating the data: a
        submit's model-size check needs only these (the default splits took ~5 ms)."""
        opts = _expect_options(self, options, AddingOptions)
        return 2, 1, opts.seq_len

    def baselines(self, options: BaseModel) -> dict[str, Baseline]:
        """Return the scores of always predicting 1, the mean of the target.

        The target is the sum of two independent U(0, 1) values (triangular on [0, 2]), so
        predicting 1 gives MSE = variance = 1/6 and MAE = E|S - 1| = 1/3, whatever seq_len.
        """
        _expect_options(self, options, AddingOptions)
        mse = 1.0 / 6.0
        values = {"loss": mse, "mse": mse, "rmse": math.sqrt(mse), "mae": 1.0 / 3.0}
        return {
            metric: Baseline(
                name="predict_one",
                metric=metric,
                value=value,
                description="always predict 1, the mean of the target",
                test_value=value,
            )
            for metric, value in values.items()
        }
