"""The final evaluation beside the baselines: fitted ones on the chosen configuration's splits
plus the study's own references, and one line saying whether the tuned model beats them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import torch

from service.tasks import data_baselines
from service.tuning._objective import load_task_data
from service.tuning._resolve import ResolvedStudy

__all__ = ["final_baselines", "headline_metric", "verdict"]


def headline_metric(kind: str, metric: str) -> str:
    """The metric a reader compares: accuracy for a classifier tuned on its loss (the nearest
    neighbours have no loss), else the objective's own."""
    return "accuracy" if kind == "classification" and metric == "loss" else metric


def final_baselines(
    resolved: ResolvedStudy, hp: Mapping[str, Any], stored: Sequence[Mapping[str, Any]],
    *, time_limit_s: float = 60.0,
) -> list[dict[str, Any]]:
    """The study's stored baselines, then those fitted on the splits of ``hp`` (its window),
    as plain dicts in the shape of ``BaselinePublic``, named by the validation metric as the
    stored ones are (``val_mse``). A stored one (a published reference) wins a name clash."""
    data = load_task_data(resolved, torch.device("cpu"), dict(hp))
    fitted = [{**asdict(b), "metric": f"val_{b.metric}"}
              for b in data_baselines(data, time_limit_s=time_limit_s)]
    known = {(b.get("name"), b.get("metric")) for b in stored}
    return [dict(b) for b in stored] + [b for b in fitted
                                        if (b["name"], b["metric"]) not in known]


def verdict(kind: str, metric: str, direction: str, values: Sequence[float | None],
            baselines: Sequence[Mapping[str, Any]], *,
            ensemble: float | None = None) -> str | None:
    """One line: the tuned model's test metric over seeds (``values``, in the headline
    metric) against the best baseline's, and the seed ensemble's (``ensemble``) when there is
    one; None when nothing compares."""
    key = headline_metric(kind, metric)
    # Accuracy shown for a loss objective is maximised.
    maximize = direction == "maximize" or key != metric
    runs = [v for v in values if v is not None and math.isfinite(v)]
    return _line(key, maximize, runs, baselines, ensemble) if runs else None


def _line(key: str, maximize: bool, runs: list[float],
          baselines: Sequence[Mapping[str, Any]], ensemble: float | None) -> str | None:
    scored = [b for b in baselines if str(b.get("metric")).removeprefix("val_") == key
              and b.get("test_value") is not None]
    if not scored:
        return None
    best = (max if maximize else min)(scored, key=lambda b: float(b["test_value"]))
    reference = float(best["test_value"])
    mean = sum(runs) / len(runs)
    spread = (sum((v - mean) ** 2 for v in runs) / (len(runs) - 1)) ** 0.5 if len(runs) > 1 else 0
    wins = sum((v > reference) if maximize else (v < reference) for v in runs)
    better = mean > reference if maximize else mean < reference
    gap = abs(mean - reference)
    relative = f" ({gap / abs(reference):.1%})" if reference else ""
    line = (f"test {key} {mean:.4g} +- {spread:.2g} over {len(runs)} seeds "
            f"{'beats' if better else 'does not beat'} the best baseline, {best['name']} "
            f"({reference:.4g}), by {gap:.3g}{relative} on the mean; {wins} of {len(runs)} "
            f"seeds beat it")
    if ensemble is not None and math.isfinite(ensemble):
        beats = ensemble > reference if maximize else ensemble < reference
        line += (f"; their ensemble scores {ensemble:.4g} and "
                 f"{'beats' if beats else 'does not beat'} it")
    return line
