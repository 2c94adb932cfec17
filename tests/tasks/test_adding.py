"""The adding task: data, determinism, baselines, option errors and the task registry."""

from __future__ import annotations

import json
import math

import pytest
import torch
from pydantic import BaseModel

from service.errors import SpecError, UnknownNameError
from service.tasks import (
    AddingOptions,
    AddingTask,
    SequenceSplit,
    get_task,
    parse_task_options,
    task_names,
)


def _load(seed: int = 0, **options: int) -> tuple[AddingTask, torch.Tensor, torch.Tensor]:
    task = AddingTask()
    data = task.load(AddingOptions(**options), seed=seed)
    return task, data.train.x, data.train.y


def test_shapes_and_sizes() -> None:
    task = get_task("adding")
    data = task.load(AddingOptions(seq_len=20, n_train=32, n_val=16, n_test=24), seed=0)
    assert (data.input_size, data.output_size, data.kind) == (2, 1, "regression")
    for split, n in ((data.train, 32), (data.val, 16), (data.test, 24)):
        assert split.n == n
        assert split.x.shape == (n, 20, 2) and split.x.dtype == torch.float32
        assert split.y.shape == (n, 1) and split.y.dtype == torch.float32
        assert split.lengths is None


def test_same_seed_same_data_other_seed_other_data() -> None:
    options = AddingOptions(seq_len=10, n_train=64, n_val=32, n_test=32)
    task = AddingTask()
    a, b, c = (task.load(options, seed=s) for s in (7, 7, 8))
    for name in ("train", "val", "test"):
        assert torch.equal(getattr(a, name).x, getattr(b, name).x)
        assert torch.equal(getattr(a, name).y, getattr(b, name).y)
        assert not torch.equal(getattr(a, name).x, getattr(c, name).x)
    # The splits come from different streams, not from one stream cut in pieces.
    assert not torch.equal(a.val.x, a.test.x)
    assert not torch.equal(a.train.x[:32], a.val.x)


def test_validation_set_does_not_depend_on_train_size() -> None:
    task = AddingTask()
    small = task.load(AddingOptions(seq_len=10, n_train=16), seed=1)
    large = task.load(AddingOptions(seq_len=10, n_train=64), seed=1)
    assert torch.equal(small.val.x, large.val.x)


@pytest.mark.parametrize("seq_len", [2, 7, 50])
def test_exactly_one_marker_in_each_half(seq_len: int) -> None:
    _, x, _ = _load(seq_len=seq_len, n_train=500)
    marker = x[:, :, 1]
    half = seq_len // 2
    assert set(torch.unique(marker).tolist()) <= {0.0, 1.0}
    assert torch.all(marker[:, :half].sum(dim=1) == 1)
    assert torch.all(marker[:, half:].sum(dim=1) == 1)
    values = x[:, :, 0]
    assert float(values.min()) >= 0.0 and float(values.max()) < 1.0


def test_marker_positions_cover_both_halves() -> None:
    _, x, _ = _load(seq_len=8, n_train=2000)
    positions = x[:, :, 1].nonzero()[:, 1]
    assert set(positions.tolist()) == set(range(8))


def test_target_is_sum_of_marked_values() -> None:
    _, x, y = _load(seq_len=30, n_train=256)
    expected = (x[:, :, 0] * x[:, :, 1]).sum(dim=1, keepdim=True)
    torch.testing.assert_close(y, expected)


def test_predict_one_baseline_matches_generated_data() -> None:
    task, _, y = _load(seed=3, seq_len=4, n_train=20_000)
    baselines = task.baselines(AddingOptions())
    assert set(baselines) == set(task.metrics())
    err = y - 1.0
    assert float(err.square().mean()) == pytest.approx(baselines["mse"].value, abs=0.005)
    assert float(err.abs().mean()) == pytest.approx(baselines["mae"].value, abs=0.005)
    assert baselines["loss"].value == pytest.approx(1 / 6)
    assert baselines["mse"].value == pytest.approx(1 / 6)
    assert baselines["rmse"].value == pytest.approx(math.sqrt(1 / 6))
    assert baselines["mae"].value == pytest.approx(1 / 3)
    assert all(b.name == "predict_one" and b.metric == m for m, b in baselines.items())


def test_metrics_and_directions() -> None:
    task = AddingTask()
    assert task.metrics() == ("loss", "mse", "rmse", "mae")
    assert task.default_metric == "loss"
    assert task.metric_direction("rmse") == "minimize"
    with pytest.raises(UnknownNameError, match="accuracy"):
        task.metric_direction("accuracy")


@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [
        ({"seq_len": 1}, "seq_len", "greater than or equal to 2"),
        ({"seq_len": 5001}, "seq_len", "less than or equal to 5000"),
        ({"n_train": 8}, "n_train", "greater than or equal to 16"),
        ({"n_val": 0}, "n_val", "greater than or equal to 16"),
        ({"seq_len": "50"}, "seq_len", "valid integer"),
        ({"seq_len": True}, "seq_len", "valid integer"),
        ({"bogus": 1}, "bogus", "Extra inputs are not permitted"),
    ],
)
def test_bad_options_are_spec_errors_naming_the_field(
    raw: dict[str, object], field: str, fragment: str
) -> None:
    with pytest.raises(SpecError) as info:
        parse_task_options(AddingTask(), raw)
    assert info.value.loc == ("task", field)
    assert fragment in info.value.message
    if "Extra inputs" in fragment:
        assert "allowed options are: seq_len" in info.value.message
    else:  # the value as the client sent it (JSON), so the message points at the input
        assert json.dumps(next(iter(raw.values()))) in info.value.message


def test_too_much_data_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="exceeds the limit") as info:
        parse_task_options(AddingTask(), {"seq_len": 5000, "n_train": 200_000})
    assert info.value.loc == ("task",)


def test_parse_accepts_the_spec_mapping_with_its_name() -> None:
    options = parse_task_options(get_task("adding"), {"name": "adding", "seq_len": 12})
    assert options == AddingOptions(seq_len=12)
    with pytest.raises(SpecError) as info:
        parse_task_options(get_task("adding"), {"name": "other"})
    assert info.value.loc == ("task", "name")


class _OtherOptions(BaseModel):
    seq_len: int = 10


def test_load_rejects_options_of_another_model() -> None:
    with pytest.raises(TypeError, match="AddingOptions"):
        AddingTask().load(_OtherOptions(), seed=0)


def test_registry() -> None:
    assert "adding" in task_names()
    assert isinstance(get_task("adding"), AddingTask)
    with pytest.raises(UnknownNameError) as info:
        get_task("subtracting")
    assert "adding" in info.value.valid
    assert "adding" in str(info.value) and "subtracting" in str(info.value)


def test_split_validates_lengths() -> None:
    x = torch.zeros(3, 5, 1)
    y = torch.zeros(3, 1)
    SequenceSplit(x, y, torch.tensor([1, 5, 3]))
    with pytest.raises(ValueError, match=r"\[1, 5\]"):
        SequenceSplit(x, y, torch.tensor([0, 5, 3]))
    with pytest.raises(ValueError, match="int64"):
        SequenceSplit(x, y, torch.tensor([1.0, 5.0, 3.0]))
    with pytest.raises(ValueError, match="rows"):
        SequenceSplit(x, torch.zeros(2, 1))
