"""The verdict: the tuned model's test metric over seeds against the best baseline's."""

from __future__ import annotations

from service.tuning import headline_metric, verdict

_SUNSPOTS = [
    {"name": "naive_last_value", "metric": "val_mse", "test_value": 920.7},
    {"name": "ar9", "metric": "val_mse", "test_value": 305.2},
    {"name": "ar9", "metric": "val_mae", "test_value": 1.0},  # another metric: ignored
    {"name": "ar10", "metric": "val_mse", "test_value": None},  # no test value: ignored
]


def test_a_mean_below_the_best_baseline_beats_it_with_the_seeds_counted() -> None:
    line = verdict("forecasting", "mse", "minimize", [280.0, 300.0, 320.0], _SUNSPOTS)
    assert line == ("test mse 300 +- 20 over 3 seeds beats the best baseline, ar9 (305.2), "
                    "by 5.2 (1.7%) on the mean; 2 of 3 seeds beat it")


def test_a_mean_above_it_does_not() -> None:
    line = verdict("forecasting", "mse", "minimize", [310.0, None, 330.0], _SUNSPOTS)
    assert line is not None
    assert "over 2 seeds does not beat the best baseline, ar9 (305.2), by 14.8" in line
    assert line.endswith("0 of 2 seeds beat it")


def test_a_classifier_tuned_on_its_loss_is_judged_on_accuracy() -> None:
    assert headline_metric("classification", "loss") == "accuracy"
    assert headline_metric("classification", "f1_macro") == "f1_macro"
    baselines = [{"name": "1nn_dtw", "metric": "val_accuracy", "test_value": 0.949},
                 {"name": "logistic", "metric": "val_accuracy", "test_value": 0.984}]
    line = verdict("classification", "loss", "minimize", [0.99, 0.98], baselines)
    assert line is not None and line.startswith("test accuracy 0.985 +- 0.0071 over 2 seeds "
                                                "beats the best baseline, logistic (0.984)")


def test_nothing_to_compare_gives_no_verdict() -> None:
    assert verdict("regression", "mse", "minimize", [1.0], []) is None
    assert verdict("forecasting", "mse", "minimize", [None], _SUNSPOTS) is None


def test_the_seed_ensemble_is_judged_beside_the_seeds() -> None:
    line = verdict("forecasting", "mse", "minimize", [310.0, 320.0, 330.0], _SUNSPOTS,
                   ensemble=290.0)
    assert line is not None and line.endswith(
        "0 of 3 seeds beat it; their ensemble scores 290 and beats it")
    baselines = [{"name": "logistic", "metric": "val_accuracy", "test_value": 0.984}]
    line = verdict("classification", "loss", "minimize", [0.97, 0.98], baselines,
                   ensemble=0.98)
    assert line is not None and line.endswith("their ensemble scores 0.98 and does not beat it")
