"""A classifier's linear path: the logistic-regression baseline inside the model, fixed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from service.config import default_search_spaces_dir
from service.errors import SpecError
from service.models import SequenceModel, SequenceModelConfig, build_bundle, load_model
from service.models._resample import resample_flat
from service.spaces._catalog import defaults as default_hparams
from service.specs import parse_spec_mapping
from service.tasks import SequenceSplit, TaskData
from service.tasks._baselines import fit_logistic
from service.training import TrainConfig, Trainer
from service.tuning import resolve_spec
from service.tuning._objective import build_model


def _model(**kwargs: Any) -> SequenceModel:
    torch.manual_seed(0)
    options: dict[str, Any] = {"cell": "gru", "input_size": 2, "output_size": 3,
                               "hidden_size": 5}
    options.update(kwargs)
    return SequenceModel(SequenceModelConfig(**options))


def test_resampling_interpolates_each_rows_valid_steps_and_never_reads_padding() -> None:
    x = torch.tensor([[[0.0], [2.0], [4.0], [float("nan")]],
                      [[1.0], [3.0], [float("inf")], [float("nan")]],
                      [[5.0], [-1e30], [-1e30], [-1e30]]], dtype=torch.float64)
    got = resample_flat(x, torch.tensor([3, 2, 1]), 5)
    expected = [np.interp(np.linspace(0, 1, 5), np.linspace(0, 1, n), row[:n, 0].numpy())
                for row, n in ((x[0], 3), (x[1], 2))]
    np.testing.assert_allclose(got[:2].numpy(), np.stack(expected))
    np.testing.assert_allclose(got[2].numpy(), [5.0] * 5)  # one step: repeated


def test_resampling_flattens_step_major_and_full_rows_need_no_lengths() -> None:
    x = torch.arange(12.0).reshape(1, 3, 4)  # 3 steps of 4 features
    torch.testing.assert_close(resample_flat(x, None, 3), x.reshape(1, 12))
    torch.testing.assert_close(resample_flat(x, None, 3), resample_flat(x, torch.tensor([3]), 3))


def test_a_linear_path_adds_nothing_until_started() -> None:
    x = torch.randn(4, 6, 2)
    torch.testing.assert_close(_model(linear_steps=3)(x), _model()(x))


def test_started_from_a_classifier_the_model_is_that_classifier() -> None:
    model = _model(linear_steps=4)
    weight, bias = torch.randn(3, 8), torch.randn(3)
    model.start_from_classifier(weight, bias)
    x, lengths = torch.randn(5, 7, 2), torch.tensor([7, 3, 1, 5, 2])
    expected = resample_flat(x, lengths, 4) @ weight.T + bias
    torch.testing.assert_close(model(x, lengths), expected)


def test_training_leaves_the_linear_path_as_fitted() -> None:
    model = _model(linear_steps=3)
    model.start_from_classifier(torch.randn(3, 6), torch.randn(3))
    fitted = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("linear")}
    head = model.head.weight.clone()
    split = SequenceSplit(torch.randn(16, 5, 2), torch.randint(0, 3, (16,)))
    Trainer(model, TrainConfig(lr=0.05, max_epochs=2, batch_size=4),
            kind="classification", device=torch.device("cpu")).fit(split, split)
    for name, value in fitted.items():
        torch.testing.assert_close(model.state_dict()[name], value, msg=name)
    assert not torch.equal(model.head.weight, head), "the network itself did not train"
    assert model.count_parameters() == _model().count_parameters()


def _classification_data() -> TaskData:
    # Three classes told apart by the mean level of feature 1 over the sequence; lengths vary.
    rng = np.random.default_rng(0)

    def split(n: int) -> SequenceSplit:
        labels = rng.integers(0, 3, size=n)
        x = rng.normal(0, 0.3, size=(n, 9, 2))
        x[:, :, 1] += labels[:, None] - 1.0
        lengths = rng.integers(4, 10, size=n)
        return SequenceSplit(torch.tensor(x, dtype=torch.float32), torch.tensor(labels),
                             torch.tensor(lengths))

    return TaskData(train=split(60), val=split(30), test=split(30), input_size=2,
                    output_size=3, kind="classification")


def test_an_untrained_classifier_with_a_linear_path_is_the_logistic_baseline() -> None:
    data = _classification_data()
    hp = {**default_hparams(), "cell": "gru", "hidden_size": 4, "linear_path": True}
    model = build_model(hp, data).eval()
    steps = data.train.x.shape[1]
    assert model.config.linear_steps == steps
    flat = [resample_flat(s.x.double(), s.lengths, steps).numpy()
            for s in (data.train, data.val, data.test)]
    weight, bias, _ = fit_logistic(flat[0], data.train.y.numpy(), 3, flat[1], data.val.y)
    with torch.no_grad():
        got = model(data.test.x, data.test.lengths).double()
    expected = torch.from_numpy(flat[2]) @ weight.T + bias
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert float((got.argmax(1) == data.test.y).double().mean()) == 1.0


def test_the_fit_used_last_is_the_one_a_full_cache_keeps() -> None:
    from service.tuning import _objective

    _objective._LINEAR_FITS.clear()
    first, others = _classification_data(), [_classification_data() for _ in range(4)]
    _objective._fit_linear_path(first, 9)
    for data in others[:3]:
        _objective._fit_linear_path(data, 9)
    _objective._fit_linear_path(first, 9)  # used again: no longer the oldest
    _objective._fit_linear_path(others[3], 9)  # a fifth: the least recently used goes
    kept = [entry[0] for entry in _objective._LINEAR_FITS.values()]
    assert any(data is first for data in kept) and not any(data is others[0] for data in kept)
    _objective._LINEAR_FITS.clear()


def test_a_model_file_and_its_torchscript_keep_the_linear_path() -> None:
    model = _model(linear_steps=4).eval()
    model.start_from_classifier(torch.randn(3, 8), torch.randn(3))
    loaded = load_model(build_bundle(model, kind="classification", metric="accuracy",
                                     preprocessing={"layout": "sequences"}))
    assert loaded.config == model.config
    x = torch.randn(3, 11, 2)  # longer than the traced example: the resampling follows it
    scripted = loaded.to_torchscript()  # traced on a shorter example
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(scripted(x), expected)
        np.testing.assert_allclose(loaded.predict_proba(x.numpy()),
                                   torch.softmax(expected.double(), 1).numpy(), rtol=1e-5)


def test_the_linear_path_is_refused_outside_classification() -> None:
    spec = {"task": {"name": "adding", "seq_len": 10, "n_train": 64, "n_val": 32},
            "search_space": {"params": {"cell": "gru", "linear_path": True}}}
    with pytest.raises(SpecError, match="linear_path applies only to classification"):
        resolve_spec(parse_spec_mapping(spec), spaces_dir=default_search_spaces_dir())


@pytest.mark.parametrize("bad", [-1, True, 2.5])
def test_bad_linear_steps_are_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match="linear_steps"):
        SequenceModelConfig(cell="gru", input_size=2, output_size=3, linear_steps=bad)
