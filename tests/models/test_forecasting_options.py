"""Forecasting options of SequenceModel: the AR highway, the residual, differenced inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from service.models import SequenceModel, SequenceModelConfig, build_bundle, load_model
from service.spaces._catalog import defaults as default_hparams
from service.tasks import TaskData
from service.tasks._baselines import data_baselines
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


def _ar_fit(data: TaskData, order: int) -> np.ndarray:
    """Least squares of the training targets on the target's last ``order`` steps: the lags'
    weights (oldest first), then the intercept."""
    lags = data.train.x[:, -order:, 1].double().numpy()
    design = np.concatenate([lags, np.ones((len(lags), 1))], axis=1)
    return np.asarray(np.linalg.lstsq(design, data.train.y.double().numpy(), rcond=None)[0])


def _val_forecasts(data: TaskData, coef: np.ndarray) -> np.ndarray:
    order = coef.shape[0] - 1
    return np.asarray(data.val.x[:, -order:, 1].double().numpy() @ coef[:-1] + coef[-1])


@pytest.mark.parametrize("residual", [False, True])
def test_an_untrained_forecaster_is_the_ar_model_of_the_order_validation_chooses(
        residual: bool) -> None:
    data = _ar2_data()
    hp = {**default_hparams(), "cell": "gru", "hidden_size": 4, "highway": 6,
          "residual": residual}
    model = build_model(hp, data).eval()
    assert model.config.target_index == 1
    val_y = data.val.y.double().numpy()
    errors = {order: float(np.mean((_val_forecasts(data, _ar_fit(data, order)) - val_y) ** 2))
              for order in range(1, 7)}
    chosen = min(errors, key=errors.__getitem__)
    assert chosen < 6  # on an AR(2) series the longest order is not the one validation picks
    with torch.no_grad():
        got = model(data.val.x).double().numpy()
    np.testing.assert_allclose(got, _val_forecasts(data, _ar_fit(data, chosen)), atol=1e-4)
    assert model.highway is not None
    older = model.highway.weight[0, : 6 - chosen]
    assert torch.count_nonzero(older) == 0  # steps older than the chosen order start at zero
    # It forecasts the AR(2) series about as well as the noise allows (variance 0.04).
    assert float(np.mean((got - val_y) ** 2)) < 0.06


def test_the_start_is_the_ar_baseline_the_study_reports() -> None:
    # With a highway as long as the window, the untrained forecaster is the AR(p) baseline
    # (order chosen on validation from 1 to the window), forecast for forecast.
    data = _ar2_data()
    ar = [b for b in data_baselines(data) if b.name.startswith("ar") and b.metric == "mse"]
    assert len(ar) == 1
    hp = {**default_hparams(), "cell": "lstm", "hidden_size": 4, "highway": 8}
    model = build_model(hp, data).eval()
    with torch.no_grad():
        got = model(data.val.x).double().numpy()
    mse = float(np.mean((got - data.val.y.double().numpy()) ** 2))
    assert mse == pytest.approx(ar[0].value, rel=1e-4)


def test_a_model_file_keeps_the_forecasting_options() -> None:
    model = _model(highway=3, residual=True, diff_inputs=True, target_index=1).eval()
    model.start_from_linear(torch.tensor([[0.5, 0.1, 0.2]]), torch.tensor([0.1]))
    loaded = load_model(build_bundle(model, kind="forecasting", metric="mse",
                                     preprocessing={"layout": "sequences"}))
    x = torch.randn(4, 5, 2)
    assert loaded.config == model.config
    with torch.no_grad():
        np.testing.assert_allclose(loaded.predict(x), model(x).double().numpy(), rtol=1e-5)
