"""The readout of SequenceModel: the last hidden state, or the outputs pooled over each
sequence's valid steps (mean, max, both); padding never enters a pool."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import torch

from service.models import (
    READOUTS,
    SequenceModel,
    SequenceModelConfig,
    build_bundle,
    load_model,
)
from service.models._readout import pool
from service.tasks import SequenceSplit
from service.training import TrainConfig, Trainer

HUGE = 1e30


def _outputs(fill: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Three sequences of lengths 3, 1 and 4 with two features a step; ``fill`` past each
    length."""
    outputs = torch.tensor(
        [
            [[1.0, -2.0], [3.0, 0.0], [-1.0, 5.0], [fill, fill]],
            [[-4.0, 2.0], [fill, fill], [fill, fill], [fill, fill]],
            [[0.5, 1.0], [1.5, -3.0], [2.5, 1.0], [-0.5, 2.0]],
        ],
        dtype=torch.float64,
    )
    return outputs, torch.tensor([3, 1, 4])


# By hand, over the valid steps only.
MEAN = [[1.0, 1.0], [-4.0, 2.0], [1.0, 0.25]]
MAX = [[3.0, 5.0], [-4.0, 2.0], [2.5, 2.0]]


@pytest.mark.parametrize("fill", [0.0, HUGE, -HUGE, float("inf"), float("nan")])
def test_masked_pools_equal_the_hand_computation_whatever_the_padding(fill: float) -> None:
    outputs, lengths = _outputs(fill)
    expected = {
        "mean": torch.tensor(MEAN, dtype=torch.float64),
        "max": torch.tensor(MAX, dtype=torch.float64),
    }
    expected["mean_max"] = torch.cat([expected["mean"], expected["max"]], dim=1)
    for readout, want in expected.items():
        torch.testing.assert_close(pool(outputs, lengths, readout), want, rtol=0, atol=1e-12)


def test_unmasked_pools_read_every_step() -> None:
    outputs, _ = _outputs(HUGE)
    full = torch.tensor([4, 4, 4])
    assert float(pool(outputs, None, "max")[0, 0]) == HUGE  # the check above is not vacuous
    for readout in ("mean", "max", "mean_max"):
        torch.testing.assert_close(pool(outputs, None, readout), pool(outputs, full, readout))
    with pytest.raises(ValueError, match="'last'"):
        pool(outputs, None, "last")


def _model(readout: str, **options: Any) -> SequenceModel:
    torch.manual_seed(0)
    config: dict[str, Any] = {
        "cell": "gru",
        "input_size": 3,
        "output_size": 4,
        "hidden_size": 5,
        "readout": readout,
    }
    config.update(options)
    return SequenceModel(SequenceModelConfig(**config))


@pytest.mark.parametrize("readout", READOUTS)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_changes_a_pooled_output(
    readout: str, cell: str, bidirectional: bool
) -> None:
    model = _model(readout, cell=cell, bidirectional=bidirectional, num_layers=2).eval()
    pooled = 2 if readout == "mean_max" else 1
    assert model.head.in_features == pooled * 5 * (2 if bidirectional else 1)
    gen = torch.Generator().manual_seed(1)
    lengths = torch.tensor([6, 2, 4, 1])
    x = torch.randn(4, 6, 3, generator=gen)
    huge = x.clone()
    for row, n in enumerate(lengths.tolist()):
        huge[row, n:] = 1e6
    with torch.no_grad():
        batched = model(huge, lengths)
        alone = torch.cat([model(x[row : row + 1, :n]) for row, n in enumerate(lengths.tolist())])
        unmasked = model(huge)
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(unmasked, alone, atol=1e-3)  # without lengths the padding counts


def test_pooling_readouts_differ_from_the_last_state() -> None:
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        outputs = {readout: _model(readout)(x) for readout in READOUTS}
    assert not torch.allclose(outputs["last"], outputs["mean"])
    assert not torch.allclose(outputs["mean"], outputs["max"])


def _where_the_bump_is(n: int, seed: int) -> SequenceSplit:
    """Variable-length sequences whose class is which channel holds a bump somewhere in the
    sequence, not at its end: what a readout of every step should find."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(4, 13, (n,), generator=gen)
    x = 0.3 * torch.randn(n, 12, 3, generator=gen)
    y = torch.arange(n) % 3
    for row in range(n):
        at = int(torch.randint(0, int(lengths[row]) - 2, (1,), generator=gen))
        x[row, at, int(y[row])] += 3.0
        x[row, int(lengths[row]) :] = 0.0
    return SequenceSplit(x, y, lengths)


@pytest.mark.parametrize("readout", READOUTS)
def test_each_readout_trains_and_predicts(readout: str) -> None:
    train, val = _where_the_bump_is(128, 0), _where_the_bump_is(64, 1)
    model = _model(readout, output_size=3, hidden_size=12, bidirectional=True)
    trainer = Trainer(
        model,
        TrainConfig(max_epochs=15, lr=1e-2, batch_size=32, seed=0),
        kind="classification",
        device=torch.device("cpu"),
    )
    outcome = trainer.fit(train, val)
    assert outcome.status == "completed"
    assert outcome.epochs[-1].train_loss < 0.5 * outcome.epochs[0].train_loss
    assert outcome.epochs[-1].val_metrics["accuracy"] > 0.8, outcome.epochs[-1].val_metrics
    model.eval()
    with torch.no_grad():
        predicted = model(val.x, val.lengths).argmax(dim=1)
    assert float((predicted == val.y).float().mean()) > 0.8


@pytest.mark.parametrize("readout", READOUTS)
def test_a_model_file_keeps_the_readout_and_exports_to_torchscript(readout: str) -> None:
    model = _model(readout, bidirectional=True).eval()
    prep = {
        "layout": "sequences",
        "classes": ["a", "b", "c", "d"],
        "input": {"mean": [1.0, 0.0, -1.0], "std": [2.0, 1.0, 0.5]},
    }
    loaded = load_model(
        build_bundle(model, kind="classification", metric="loss", preprocessing=prep)
    )
    assert loaded.config == model.config and loaded.config.readout == readout
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 9, 3))
    lengths = np.array([9, 3, 1, 7, 9])
    padded = x.copy()
    for row, n in enumerate(lengths):
        padded[row, n:] = 1e6
    normalised = torch.tensor((x - [1.0, 0.0, -1.0]) / [2.0, 1.0, 0.5], dtype=torch.float32)
    with torch.no_grad():
        full = model(normalised)
        alone = torch.cat(
            [model(normalised[row : row + 1, :n]) for row, n in enumerate(lengths.tolist())]
        )
    np.testing.assert_allclose(loaded.output(x).numpy(), full.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        loaded.output(padded, lengths).numpy(), alone.numpy(), rtol=1e-5, atol=1e-6
    )
    labels = np.asarray(prep["classes"])[alone.argmax(1).numpy()]
    assert list(loaded.predict(padded, lengths)) == list(labels)
    # The trace takes sequences of another length than the one it was traced with (4).
    scripted = loaded.to_torchscript()
    with torch.no_grad():
        np.testing.assert_allclose(
            scripted(torch.tensor(x, dtype=torch.float32)).numpy(),
            full.numpy(),
            rtol=1e-5,
            atol=1e-6,
        )


def test_a_model_file_without_a_readout_loads_as_last() -> None:
    """Files written before the option existed keep reading the last hidden state."""
    model = _model("last").eval()
    raw = build_bundle(
        model, kind="classification", metric="loss", preprocessing={"layout": "sequences"}
    )
    bundle = torch.load(io.BytesIO(raw), weights_only=True)
    del bundle["config"]["readout"]
    loaded = load_model(_saved(bundle))
    assert loaded.config.readout == "last"
    x = torch.randn(3, 5, 3)
    with torch.no_grad():
        np.testing.assert_allclose(loaded.output(x.numpy()).numpy(), model(x).numpy(), rtol=1e-6)


def _saved(bundle: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(bundle, buffer)
    return buffer.getvalue()


def test_an_unknown_readout_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match=r"'attention'.*last, mean, max, mean_max"):
        SequenceModelConfig(cell="gru", input_size=1, output_size=1, readout="attention")  # type: ignore[arg-type]
