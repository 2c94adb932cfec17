"""Variable-length sequences are packed: what lies past a sequence's length never changes a
prediction, a gradient, a trained model or a metric."""

from __future__ import annotations

import pytest
import torch

from service.models import SequenceModel, SequenceModelConfig
from service.tasks import SequenceSplit, get_task, parse_task_options
from service.training import TrainConfig, Trainer


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([7, 3, 1, 5, 7, 2])
    x = torch.randn(6, 7, 4, generator=gen)
    return x, lengths


def _with_padding(x: torch.Tensor, lengths: torch.Tensor, fill: float | None) -> torch.Tensor:
    """``x`` with every step past the length replaced: by ``fill``, or by noise when None."""
    out = x.clone()
    pad = torch.arange(x.shape[1])[None, :] >= lengths[:, None]
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(99)) * 1e3
    out[pad] = noise[pad] if fill is None else fill
    return out


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_changes_the_output(cell: str, bidirectional: bool) -> None:
    torch.manual_seed(0)
    model = SequenceModel(SequenceModelConfig(
        cell=cell, input_size=4, output_size=3, hidden_size=5, num_layers=2,  # type: ignore[arg-type]
        bidirectional=bidirectional,
    )).eval()
    x, lengths = _batch()
    zeros = model(_with_padding(x, lengths, 0.0), lengths)
    noise = model(_with_padding(x, lengths, None), lengths)
    assert torch.equal(zeros, noise)
    # The same as each sequence alone, unpadded.
    for row, n in enumerate(lengths.tolist()):
        alone = model(x[row : row + 1, :n])
        assert torch.allclose(zeros[row : row + 1], alone, atol=1e-6), (row, n)
    # Without lengths the padding would be read: the check above is not vacuous.
    assert not torch.allclose(model(_with_padding(x, lengths, None)), zeros, atol=1e-3)


def test_padding_never_changes_gradients() -> None:
    torch.manual_seed(0)
    model = SequenceModel(SequenceModelConfig(cell="lstm", input_size=4, output_size=1,
                                              hidden_size=6))
    x, lengths = _batch(1)
    grads = []
    for fill in (0.0, None):
        model.zero_grad()
        model(_with_padding(x, lengths, fill), lengths).square().sum().backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert all(torch.equal(a, b) for a, b in zip(*grads, strict=True))


def test_training_and_metrics_ignore_padding() -> None:
    """Two full trainings on the same sequences, padded with zeros or with noise, end with the
    same weights and the same validation and test metrics."""
    task = get_task("japanese_vowels")
    data = task.load(parse_task_options(task, {}), seed=0)

    def noisy(split: SequenceSplit) -> SequenceSplit:
        assert split.lengths is not None
        return SequenceSplit(_with_padding(split.x, split.lengths, None), split.y, split.lengths)

    results = []
    for transform in (lambda s: s, noisy):
        torch.manual_seed(0)
        model = SequenceModel(SequenceModelConfig(cell="gru", input_size=12, output_size=9,
                                                  hidden_size=16, bidirectional=True))
        trainer = Trainer(model, TrainConfig(max_epochs=2, lr=1e-2, batch_size=32, seed=0),
                          kind="classification", device=torch.device("cpu"))
        outcome = trainer.fit(transform(data.train), transform(data.val))
        assert outcome.status == "completed"
        results.append((outcome.epochs[-1].val_metrics, trainer.evaluate(transform(data.test)),
                        [p.detach().clone() for p in model.parameters()]))
    (val_a, test_a, weights_a), (val_b, test_b, weights_b) = results
    assert val_a == val_b and test_a == test_b
    assert all(torch.equal(a, b) for a, b in zip(weights_a, weights_b, strict=True))
