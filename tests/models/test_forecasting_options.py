"""Forecasting options of SequenceModel: the AR highway, the residual, differenced inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from service.models import SequenceModel, SequenceModelConfig, build_bundle, load_model
from service.spaces._catalog import defaults as default_hparams
from service.tasks import TaskData
from service.tasks._prep import windows
from service.tuning._objective import build_model


def _model(**kwargs: Any) -> SequenceModel:
    torch.manual_seed(0)
    options: dict[str, Any] = {"cell": "gru", "input_size": 2, "output_size": 1,
                               "hidden_size": 6}
    options.update(kwargs)
    return SequenceModel(SequenceModelConfig(**options))


def test_highway_adds_nothing_at_init() -> None:
    x = torch.randn(4, 10, 2)
    torch.testing.assert_close(_model(highway=3)(x), _model()(x))


def test_started_from_a_linear_model_it_is_that_model_even_beyond_the_training_range() -> None:
    model = _model(highway=3, target_index=1)
    weight, bias = torch.tensor([[0.2, -0.5, 1.1]]), torch.tensor([0.3])
    model.start_from_linear(weight, bias)
    x = torch.randn(5, 8, 2) * 100  # far outside anything standardised training data holds
    expected = x[:, -3:, 1] @ weight.T + bias
    torch.testing.assert_close(model(x), expected)
    assert float(model(x).detach().abs().max()) > 50, "the output is not bounded"


def test_residual_predicts_the_change_from_the_last_target_value() -> None:
    model = _model(residual=True, target_index=1)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    x = torch.randn(3, 6, 2) * 50
    torch.testing.assert_close(model(x), x[:, -1:, 1])


def test_diff_inputs_feed_each_steps_change_beside_the_input() -> None:
    with_diff = _model(diff_inputs=True)
    plain = _model(input_size=4)
    plain.load_state_dict(with_diff.state_dict())
    x = torch.randn(3, 7, 2)
    change = torch.cat([torch.zeros(3, 1, 2), x[:, 1:] - x[:, :-1]], dim=1)
    torch.testing.assert_close(with_diff(x), plain(torch.cat([x, change], dim=2)))


def test_highway_reads_the_last_valid_steps_of_padded_input() -> None:
    model = _model(highway=4, residual=True)
    model.start_from_linear(torch.tensor([[0.1, 0.2, 0.3, 0.4]]), torch.tensor([0.0]))
    short = torch.randn(1, 3, 2)  # shorter than the highway: zeros before its start
    padded = torch.cat([short, torch.full((1, 2, 2), 9.0)], dim=1)
    out = model(padded, torch.tensor([3]))
    torch.testing.assert_close(out, model(short))
    torch.testing.assert_close(out, short[:, :, 0] @ torch.tensor([[0.2, 0.3, 0.4]]).T
                               + short[:, -1:, 0])


@pytest.mark.parametrize("bad", [{"target_index": 2}, {"highway": -1}, {"residual": 1}])
def test_bad_forecasting_options_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        SequenceModelConfig(cell="gru", input_size=2, output_size=1, **bad)


def _ar2_data() -> TaskData:
    rng = np.random.default_rng(0)
    values = np.zeros(300)
    for t in range(2, 300):
        values[t] = 1.2 * values[t - 1] - 0.5 * values[t - 2] + rng.normal(0, 0.2)
    series = np.stack([rng.normal(size=300), values], axis=1)  # the target is column 1

    def part(lo: int, hi: int) -> Any:
        return windows(series, values, np.arange(lo, hi), window=8, horizon=1)

    return TaskData(train=part(8, 200), val=part(200, 250), test=part(250, 300), input_size=2,
                    output_size=1, kind="forecasting",
                    preprocessing={"columns": ["noise", "v"], "target_column": "v"})


@pytest.mark.parametrize("residual", [False, True])
def test_an_untrained_forecaster_is_the_least_squares_ar_model(residual: bool) -> None:
    data = _ar2_data()
    hp = {**default_hparams(), "cell": "gru", "hidden_size": 4, "highway": 3,
          "residual": residual}
    model = build_model(hp, data).eval()
    assert model.config.target_index == 1
    lags = data.train.x[:, -3:, 1].double().numpy()
    design = np.concatenate([lags, np.ones((len(lags), 1))], axis=1)
    coef = np.linalg.lstsq(design, data.train.y.double().numpy(), rcond=None)[0]
    val = data.val.x[:, -3:, 1].double().numpy()
    expected = val @ coef[:3] + coef[3]
    with torch.no_grad():
        got = model(data.val.x).double().numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)
    # It forecasts the AR(2) series about as well as the noise allows (variance 0.04).
    assert float(np.mean((got - data.val.y.numpy()) ** 2)) < 0.06


def test_a_model_file_keeps_the_forecasting_options() -> None:
    model = _model(highway=3, residual=True, diff_inputs=True, target_index=1).eval()
    model.start_from_linear(torch.tensor([[0.5, 0.1, 0.2]]), torch.tensor([0.1]))
    loaded = load_model(build_bundle(model, kind="forecasting", metric="mse",
                                     preprocessing={"layout": "sequences"}))
    x = torch.randn(4, 5, 2)
    assert loaded.config == model.config
    with torch.no_grad():
        np.testing.assert_allclose(loaded.predict(x), model(x).double().numpy(), rtol=1e-5)
