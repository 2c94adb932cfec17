"""The report's figures, one function each, from a study's trials (plotly, no Optuna plots:
their learning curves cannot show why a trial stopped)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from service.schemas import StudyPublic
from service.store import primary_value
from service.trial_attrs import ATTR_EPOCHS, ATTR_PRUNE_REASON

__all__ = [
    "final_evaluation",
    "gradient_norms",
    "history",
    "importance_bars",
    "learning_curves",
    "lr_clip_outcomes",
    "parallel_coordinates",
    "pareto",
    "slices",
    "value_axis",
]

STATE_COLORS = {
    "complete": "#2a9d8f", "pruned": "#e9c46a", "diverged": "#e63946", "fail": "#6d597a",
    "running": "#8d99ae", "waiting": "#adb5bd",
}


def outcome(trial: FrozenTrial) -> str:
    """complete, pruned, diverged, fail, running or waiting."""
    if trial.state == TrialState.PRUNED and trial.user_attrs.get(ATTR_PRUNE_REASON) == "diverged":
        return "diverged"
    return trial.state.name.lower()


def _complete(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state == TrialState.COMPLETE and primary_value(t) is not None]


def _layout(figure: go.Figure, title: str, *, top: int = 50, **axes: Any) -> go.Figure:
    figure.update_layout(title=title, template="plotly_white", height=420,
                         margin={"l": 60, "r": 20, "t": top, "b": 50}, **axes)
    return figure


# Beyond two decades a linear axis squeezes the small values, which are the good ones, into a
# flat line at zero (the adding problem runs from 0.17 down to 0.00015).
LOG_SPAN = 100.0


def value_axis(values: Sequence[float | None], title: str, axis: str = "yaxis") -> dict[str, Any]:
    """Layout keys for an axis of ``values``: logarithmic (and titled so) when they are all
    positive and span more than two decades, linear otherwise."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    log = bool(finite) and min(finite) > 0 and max(finite) / min(finite) > LOG_SPAN
    return {f"{axis}_type": "log" if log else None,
            f"{axis}_title": f"{title} (log scale)" if log else title}


def history(trials: Sequence[FrozenTrial], *, metric: str, maximize: bool,
            baseline: float | None) -> go.Figure:
    complete = sorted(_complete(trials), key=lambda t: t.number)
    figure = go.Figure()
    figure.add_scatter(x=[t.number for t in complete], y=[primary_value(t) for t in complete],
                       mode="markers", name="completed trial",
                       marker={"color": STATE_COLORS["complete"]})
    best: list[float] = []
    for trial in complete:
        value = primary_value(trial) or 0.0
        best.append(value if not best else (max if maximize else min)(best[-1], value))
    figure.add_scatter(x=[t.number for t in complete], y=best, mode="lines",
                       name="best so far", line={"color": "#264653"})
    if baseline is not None:
        figure.add_hline(y=baseline, line_dash="dot", annotation_text="baseline")
    shown = [primary_value(t) for t in complete] + ([] if baseline is None else [baseline])
    return _layout(figure, "Optimisation history", xaxis_title="trial",
                   **value_axis(shown, metric))


def learning_curves(trials: Sequence[FrozenTrial], *, metric: str) -> go.Figure:
    figure = go.Figure()
    shown: set[str] = set()
    for trial in sorted(trials, key=lambda t: t.number):
        steps = sorted(trial.intermediate_values)
        if not steps:
            continue
        kind = outcome(trial)
        values = [trial.intermediate_values[s] for s in steps]
        figure.add_scatter(
            x=steps, y=values, mode="lines+markers", name=kind, legendgroup=kind,
            showlegend=kind not in shown, line={"color": STATE_COLORS[kind], "width": 1.5},
            marker={"size": [4] * (len(steps) - 1) + [10],
                    "symbol": ["circle"] * (len(steps) - 1)
                    + ["x" if kind in ("pruned", "diverged", "fail") else "circle"]},
            hovertext=f"trial {trial.number} ({kind})", hoverinfo="text+y",
        )
        shown.add(kind)
    # A diverging trial's loss dwarfs the rest; a log axis keeps every curve readable.
    values = [v for t in trials for v in t.intermediate_values.values()]
    return _layout(figure, "Learning curves (x: where a trial was stopped)",
                   xaxis_title="epoch", **value_axis(values, metric))


def importance_bars(importances: dict[str, float], note: str | None) -> go.Figure:
    names = sorted(importances, key=lambda n: importances[n])
    figure = go.Figure(go.Bar(x=[importances[n] for n in names], y=names, orientation="h",
                              marker={"color": "#264653"}))
    title = "Parameter importance (PED-ANOVA)"
    if note:
        title += "<br><sub>" + note[:120] + ("..." if len(note) > 120 else "") + "</sub>"
    return _layout(figure, title, xaxis_title="importance")


def _encode(values: list[Any]) -> tuple[list[float], dict[str, Any]]:
    """Numbers as they are; categories as indices with their labels as ticks."""
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values], {}
    labels = sorted({str(v) for v in values})
    index = {label: i for i, label in enumerate(labels)}
    return [float(index[str(v)]) for v in values], {"tickvals": list(range(len(labels))),
                                                    "ticktext": labels}


def parallel_coordinates(trials: Sequence[FrozenTrial], *, metric: str,
                         params: list[str]) -> go.Figure:
    complete = _complete(trials)
    dimensions = []
    for name in params:
        present = [t for t in complete if name in t.params]
        if len(present) != len(complete) or not complete:
            continue  # conditional parameters would leave gaps in the lines
        encoded, ticks = _encode([t.params[name] for t in complete])
        dimensions.append({"label": name, "values": encoded, **ticks})
    values = [primary_value(t) or 0.0 for t in complete]
    dimensions.append({"label": metric, "values": values})
    figure = go.Figure(go.Parcoords(
        line={"color": values, "colorscale": "Viridis_r", "showscale": True},
        dimensions=dimensions, labelangle=-20, labelside="top",
    ))
    # Plotly draws the axis labels above the plot area: room for them below the title.
    figure = _layout(figure, "Parallel coordinates (completed trials)", top=120)
    figure.update_layout(title={"y": 0.97, "yanchor": "top"})
    return figure


def slices(trials: Sequence[FrozenTrial], *, metric: str, params: list[str]) -> list[go.Figure]:
    complete = _complete(trials)
    figures = []
    for name in params:
        present = [t for t in complete if name in t.params]
        if not present:
            continue
        figure = go.Figure(go.Scatter(
            x=[t.params[name] for t in present], y=[primary_value(t) for t in present],
            mode="markers", marker={"color": [t.number for t in present],
                                    "colorscale": "Blues", "showscale": True,
                                    "colorbar": {"title": "trial"}},
            text=[f"trial {t.number}" for t in present],
        ))
        log = name in ("lr", "weight_decay") or name == "hidden_size"
        figures.append(_layout(figure, f"Slice: {name}", xaxis_title=name,
                               xaxis_type="log" if log else None,
                               **value_axis([primary_value(t) for t in present], metric)))
    return figures


def gradient_norms(trials: Sequence[FrozenTrial]) -> go.Figure:
    figure = go.Figure()
    shown: set[str] = set()
    for trial in sorted(trials, key=lambda t: t.number):
        epochs = [e for e in trial.user_attrs.get(ATTR_EPOCHS, [])
                  if e.get("grad_norm_max") is not None and math.isfinite(e["grad_norm_max"])]
        if not epochs:
            continue
        kind = outcome(trial)
        figure.add_scatter(
            x=[e["epoch"] for e in epochs], y=[e["grad_norm_max"] for e in epochs],
            mode="lines+markers", name=f"{kind} (max)", legendgroup=kind,
            showlegend=kind not in shown, line={"color": STATE_COLORS[kind], "width": 1},
            hovertext=f"trial {trial.number}: lr={trial.params.get('lr')}",
            hoverinfo="text+y",
        )
        shown.add(kind)
    return _layout(figure, "Gradient norm before clipping, per epoch (max over batches)",
                   xaxis_title="epoch", yaxis_title="gradient norm", yaxis_type="log")


def lr_clip_outcomes(trials: Sequence[FrozenTrial]) -> go.Figure:
    figure = go.Figure()
    for kind in ("complete", "pruned", "diverged", "fail"):
        chosen = [t for t in trials if outcome(t) == kind and "lr" in t.params]
        if not chosen:
            continue
        figure.add_scatter(
            x=[t.params["lr"] for t in chosen],
            y=[_max_grad_norm(t) for t in chosen],
            mode="markers", name=kind,
            marker={"color": STATE_COLORS[kind], "size": 10,
                    "symbol": "x" if kind == "diverged" else "circle"},
            text=[f"trial {t.number}, grad_clip={t.params.get('grad_clip', 'fixed')}"
                  for t in chosen],
        )
    return _layout(figure, "Learning rate against the largest gradient norm, by outcome",
                   xaxis_title="lr", yaxis_title="largest gradient norm", xaxis_type="log",
                   yaxis_type="log")


def _max_grad_norm(trial: FrozenTrial) -> float | None:
    norms = [e.get("grad_norm_max") for e in trial.user_attrs.get(ATTR_EPOCHS, [])]
    finite = [n for n in norms if n is not None and math.isfinite(n)]
    return max(finite) if finite else None


def pareto(trials: Sequence[FrozenTrial], *, objectives: list[str],
           front: set[int]) -> go.Figure:
    """The first two objectives of every completed trial; the Pareto front stands out."""
    complete = [t for t in _complete(trials) if len(t.values or []) >= 2]
    figure = go.Figure()
    for on_front in (False, True):
        chosen = [t for t in complete if (t.number in front) == on_front]
        figure.add_scatter(
            x=[t.values[0] for t in chosen], y=[t.values[1] for t in chosen], mode="markers",
            name="Pareto front" if on_front else "other trials",
            marker={"color": "#e76f51" if on_front else "#8d99ae",
                    "size": 11 if on_front else 7},
            text=[f"trial {t.number}" for t in chosen],
        )
    return _layout(figure, "Pareto front", xaxis_title=objectives[0],
                   yaxis_title=objectives[1])


def final_evaluation(study: StudyPublic, *, metric: str) -> go.Figure | None:
    """The chosen configuration's test ``metric`` per seed (and its seed ensemble's) beside
    every baseline's test value; None before the evaluation is done."""
    evaluation = study.evaluation
    if evaluation is None or evaluation.status != "done" or not evaluation.runs:
        return None
    runs = [(run.seed, run.test.get(metric)) for run in evaluation.runs]
    runs = [(seed, value) for seed, value in runs if value is not None and math.isfinite(value)]
    figure = go.Figure()
    figure.add_scatter(x=[f"seed {seed}" for seed, _ in runs], y=[v for _, v in runs],
                       mode="markers", name=f"tuned model, test {metric}",
                       marker={"color": STATE_COLORS["complete"], "size": 11})
    ensemble = None if evaluation.ensemble is None else evaluation.ensemble.test.get(metric)
    if ensemble is not None:
        figure.add_scatter(x=["ensemble"], y=[ensemble], mode="markers",
                           name=f"seed ensemble, test {metric}",
                           marker={"color": STATE_COLORS["complete"], "size": 14,
                                   "symbol": "diamond"})
    baselines = [b for b in (evaluation.baselines or study.baselines)
                 if b.metric.removeprefix("val_") == metric and b.test_value is not None]
    for index, baseline in enumerate(sorted(baselines, key=lambda b: b.test_value or 0.0)):
        figure.add_hline(y=baseline.test_value, line_dash="dot",
                         line_color=_PALETTE[index % len(_PALETTE)],
                         annotation_text=baseline.name, annotation_position="right")
        # A legend entry per line: hlines have none of their own.
        figure.add_scatter(x=[None], y=[None], mode="lines", name=f"{baseline.name} (baseline)",
                           line={"dash": "dot", "color": _PALETTE[index % len(_PALETTE)]})
    return _layout(figure, f"Final evaluation: test {metric} per seed and baselines",
                   xaxis_title="seed", yaxis_title=f"test {metric}")


_PALETTE = ("#264653", "#e76f51", "#6d597a", "#f4a261", "#8d99ae", "#e63946", "#457b9d")
