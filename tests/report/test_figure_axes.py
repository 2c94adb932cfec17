"""The report's value axes turn logarithmic (and say so) when a study's values span more than
two decades, and the parallel-coordinates plot leaves room for its axis labels."""

from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial

from service.report._figures import history, learning_curves, parallel_coordinates, slices


def trials(values: list[float]) -> list[FrozenTrial]:
    lr = FloatDistribution(1e-4, 1e-1, log=True)
    return [
        optuna.trial.create_trial(
            value=v, params={"lr": 1e-3 * (i + 1)}, distributions={"lr": lr},
            intermediate_values={0: v * 2, 1: v},
        )
        for i, v in enumerate(values)
    ]


# The adding problem: predicting 1 gives 0.167, the best LSTM reached 0.00015.
SPANNING = [0.17, 0.16, 0.02, 0.004, 0.0009, 0.00015]
NARROW = [0.5, 0.4, 0.3, 0.2, 0.1, 0.05]


def test_values_over_two_decades_get_a_log_axis_that_says_so() -> None:
    for figure in (history(trials(SPANNING), metric="val_mse", maximize=False, baseline=1 / 6),
                   *slices(trials(SPANNING), metric="val_mse", params=["lr"]),
                   learning_curves(trials(SPANNING), metric="val_mse")):
        assert figure.layout.yaxis.type == "log"
        assert figure.layout.yaxis.title.text == "val_mse (log scale)"


def test_values_within_two_decades_keep_a_linear_axis() -> None:
    for figure in (history(trials(NARROW), metric="val_loss", maximize=False, baseline=None),
                   *slices(trials(NARROW), metric="val_loss", params=["lr"])):
        assert figure.layout.yaxis.type is None
        assert figure.layout.yaxis.title.text == "val_loss"


def test_accuracy_with_a_zero_is_never_logarithmic() -> None:
    figure = history(trials([0.0, 0.5, 0.99]), metric="val_accuracy", maximize=True,
                     baseline=None)
    assert figure.layout.yaxis.type is None


def test_parallel_coordinates_title_sits_above_the_axis_labels() -> None:
    figure = parallel_coordinates(trials(NARROW), metric="val_loss", params=["lr"])
    # Plotly puts the dimension labels above the plot area: the top margin holds them and
    # the title is pinned to the top edge, above them.
    assert figure.layout.margin.t >= 100
    assert figure.layout.title.yanchor == "top" and figure.layout.title.y > 0.9
    assert figure.data[0].labelangle != 0
