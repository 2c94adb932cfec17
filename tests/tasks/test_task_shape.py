"""A synthetic task's shape, said without generating its data (a submit's model-size check
reads it), is the shape of the data it generates."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from service.tasks._adding import AddingOptions, AddingTask
from service.tasks._copy_memory import CopyMemoryOptions, CopyMemoryTask


@pytest.mark.parametrize(("task", "options"), [
    (AddingTask(), AddingOptions(seq_len=8, n_train=16, n_val=16, n_test=16)),
    (AddingTask(), AddingOptions(seq_len=37, n_train=16, n_val=16, n_test=16)),
    (CopyMemoryTask(), CopyMemoryOptions(delay=5, n_train=16, n_val=16, n_test=16)),
    (CopyMemoryTask(), CopyMemoryOptions(n_symbols=4, n_remember=7, delay=11, n_train=16,
                                         n_val=16, n_test=16)),
])
def test_the_shape_said_is_the_shape_generated(task: AddingTask | CopyMemoryTask,
                                               options: BaseModel) -> None:
    data = task.load(options, seed=3)
    assert task.shape(options) == (data.input_size, data.output_size, data.train.x.shape[1])
