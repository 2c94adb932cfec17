"""SequenceModel: shapes, initialisation, variable-length input and config validation."""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
import torch

from service.models import CELLS, CellType, SequenceModel, SequenceModelConfig

_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _model(cell: CellType, **kwargs: Any) -> SequenceModel:
    torch.manual_seed(0)
    options: dict[str, Any] = {"input_size": 4, "output_size": 3, "hidden_size": 8}
    options.update(kwargs)
    return SequenceModel(SequenceModelConfig(cell=cell, **options))


@pytest.mark.parametrize("cell", CELLS)
def test_output_shape_and_parameter_count(cell: CellType) -> None:
    model = _model(cell)
    assert model(torch.randn(5, 7, 4)).shape == (5, 3)
    g, h, i, o = _GATES[cell], 8, 4, 3
    assert model.count_parameters() == g * (h * i + h * h + 2 * h) + h * o + o


@pytest.mark.parametrize("cell", CELLS)
def test_bidirectional_stacked(cell: CellType) -> None:
    model = _model(cell, bidirectional=True, num_layers=2)
    assert model.head.in_features == 16
    assert model(torch.randn(5, 7, 4)).shape == (5, 3)


def test_relu_rnn() -> None:
    model = _model("rnn", nonlinearity="relu")
    assert model.rnn.nonlinearity == "relu"


def test_dropout_with_one_layer_is_silent_and_with_two_is_used() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        single = _model("lstm", dropout=0.5, num_layers=1)
    assert single.rnn.dropout == 0.0
    assert _model("lstm", dropout=0.5, num_layers=2).rnn.dropout == 0.5


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_forget_bias_sums_to_configured_value(bidirectional: bool) -> None:
    model = _model("lstm", forget_bias=2.5, num_layers=2, bidirectional=bidirectional)
    h = 8
    params = dict(model.rnn.named_parameters())
    suffixes = [f"l{layer}" for layer in range(2)]
    if bidirectional:
        suffixes += [f"l{layer}_reverse" for layer in range(2)]
    for suffix in suffixes:
        total = (params[f"bias_ih_{suffix}"] + params[f"bias_hh_{suffix}"]).detach()
        torch.testing.assert_close(total[h : 2 * h], torch.full((h,), 2.5))
        # The other gates keep PyTorch's small random initialisation.
        assert float(total[:h].abs().max()) < 1.0


@pytest.mark.parametrize("cell", CELLS)
def test_orthogonal_recurrent_init(cell: CellType) -> None:
    def blocks(model: SequenceModel) -> list[torch.Tensor]:
        weights = [p for n, p in model.rnn.named_parameters() if n.startswith("weight_hh")]
        return [b for w in weights for b in torch.split(w.detach(), 8)]

    eye = torch.eye(8)
    orthogonal = blocks(_model(cell, recurrent_init="orthogonal", num_layers=2))
    assert len(orthogonal) == 2 * _GATES[cell]
    for block in orthogonal:
        torch.testing.assert_close(block.T @ block, eye, atol=1e-5, rtol=0)
    for block in blocks(_model(cell)):
        assert not torch.allclose(block.T @ block, eye, atol=1e-2)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_changes_the_output(cell: CellType, bidirectional: bool) -> None:
    model = _model(cell, bidirectional=bidirectional, num_layers=2).eval()
    gen = torch.Generator().manual_seed(1)
    lengths = [5, 9, 2]
    sequences = [torch.randn(n, 4, generator=gen) for n in lengths]
    padded = 100 * torch.randn(3, 9, 4, generator=gen)  # garbage beyond each length
    for row, seq in enumerate(sequences):
        padded[row, : len(seq)] = seq
    with torch.no_grad():
        batched = model(padded, torch.tensor(lengths))
        alone = torch.cat([model(seq.unsqueeze(0)) for seq in sequences])
        ignoring_lengths = model(padded)
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)
    # Without lengths the garbage does reach the output, so the comparison above means something.
    assert not torch.allclose(ignoring_lengths, alone, atol=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"cell": "transformer"}, "'transformer'"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"num_layers": True}, "num_layers"),
        ({"input_size": 2.5}, "input_size"),
        ({"nonlinearity": "sigmoid"}, "'sigmoid'"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"forget_bias": math.nan}, "forget_bias"),
        ({"recurrent_init": "xavier"}, "'xavier'"),
    ],
)
def test_bad_config_raises_value_error(kwargs: dict[str, Any], fragment: str) -> None:
    options: dict[str, Any] = {"cell": "gru", "input_size": 2, "output_size": 1}
    options.update(kwargs)
    with pytest.raises(ValueError, match=fragment):
        SequenceModelConfig(**options)
