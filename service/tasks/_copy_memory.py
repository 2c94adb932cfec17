"""Copy memory, as a sequence-to-one task: recall one of a few symbols after a long delay.

A sequence shows ``n_remember`` random symbols (one-hot over ``n_symbols`` channels), then
``delay`` blank steps, then one query step naming a position (one-hot over ``n_remember`` more
channels). The target is the symbol shown at that position. The query comes last, so a model
must carry every symbol across the delay (after Hochreiter & Schmidhuber 1997 and Arjovsky et
al. 2016, whose variant emits the whole sequence; our models read out once).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Annotated, Any

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ._base import Baseline, SequenceSplit, Task, TaskData, _expect_options

MAX_VALUES = 200_000_000  # float32 values of all splits together: about 800 MB


class CopyMemoryOptions(BaseModel):
    """Options of the copy-memory task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_symbols: Annotated[int, Field(strict=True, ge=2, le=64)] = 8
    n_remember: Annotated[int, Field(strict=True, ge=1, le=20)] = 3
    delay: Annotated[int, Field(strict=True, ge=1, le=2000)] = 50
    n_train: Annotated[int, Field(strict=True, ge=16, le=200_000)] = 4096
    n_val: Annotated[int, Field(strict=True, ge=16, le=200_000)] = 1024
    n_test: Annotated[int, Field(strict=True, ge=16, le=200_000)] = 1024

    @model_validator(mode="after")
    def _bounded_size(self) -> CopyMemoryOptions:
        steps = self.n_remember + self.delay + 1
        total = (self.n_train + self.n_val + self.n_test) * steps * (
            self.n_symbols + self.n_remember
        )
        if total > MAX_VALUES:
            raise ValueError(
                f"the splits would hold {total:,} values, more than the limit of "
                f"{MAX_VALUES:,}; use fewer or shorter sequences"
            )
        return self


def generate_copy_memory(
    n: int, *, n_symbols: int, n_remember: int, delay: int, seed: int
) -> SequenceSplit:
    """``n`` sequences of ``n_remember + delay + 1`` steps; targets are class indices."""
    gen = torch.Generator().manual_seed(seed)
    symbols = torch.randint(0, n_symbols, (n, n_remember), generator=gen)
    query = torch.randint(0, n_remember, (n,), generator=gen)
    steps = n_remember + delay + 1
    x = torch.zeros(n, steps, n_symbols + n_remember)
    rows = torch.arange(n)
    for position in range(n_remember):
        x[rows, position, symbols[:, position]] = 1.0
    x[rows, steps - 1, n_symbols + query] = 1.0
    return SequenceSplit(x=x, y=symbols[rows, query])


def _split_seed(seed: int, split: str) -> int:
    digest = hashlib.sha256(f"copy_memory:{seed}:{split}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class CopyMemoryTask(Task):
    """Without memory a model can only guess: accuracy 1/n_symbols, loss ln(n_symbols)."""

    name = "copy_memory"
    kind = "classification"
    description = (
        "Copy memory: see n_remember symbols, wait delay blank steps, then name the symbol at "
        "the queried position; without memory accuracy is 1/n_symbols."
    )
    # Read backwards, the query would come first and the delay would vanish.
    allows_bidirectional = False
    Options = CopyMemoryOptions
    default_metric = "accuracy"

    def load(
        self, options: BaseModel, *, seed: int, hparams: Mapping[str, Any] | None = None
    ) -> TaskData:
        """Generate the train, validation and test splits from ``seed``."""
        opts = _expect_options(self, options, CopyMemoryOptions)
        shape = {"n_symbols": opts.n_symbols, "n_remember": opts.n_remember,
                 "delay": opts.delay}
        input_size, output_size, _ = self.shape(opts)
        return TaskData(
            train=generate_copy_memory(opts.n_train, **shape, seed=_split_seed(seed, "train")),
            val=generate_copy_memory(opts.n_val, **shape, seed=_split_seed(seed, "val")),
            test=generate_copy_memory(opts.n_test, **shape, seed=_split_seed(seed, "test")),
            input_size=input_size,
            output_size=output_size,
            kind=self.kind,
        )

    def shape(self, options: BaseModel) -> tuple[int, int, int]:
        """(input size, output size, sequence length) without generating the data: a
        submit's model-size check needs only these (the default splits took ~6 ms)."""
        opts = _expect_options(self, options, CopyMemoryOptions)
        return opts.n_symbols + opts.n_remember, opts.n_symbols, opts.n_remember + opts.delay + 1

    def baselines(self, options: BaseModel) -> dict[str, Baseline]:
        """Guessing uniformly, the best a model without memory does in expectation: loss
        ln(n), accuracy 1/n and macro F1 1/n (each class's precision and recall are 1/n)."""
        opts = _expect_options(self, options, CopyMemoryOptions)
        n = opts.n_symbols
        values = {"loss": math.log(n), "accuracy": 1.0 / n, "f1_macro": 1.0 / n}
        return {
            metric: Baseline(
                name="no_memory", metric=metric, value=value,
                description="guess a symbol uniformly: all a memoryless model can do",
                test_value=value,
            )
            for metric, value in values.items()
        }
