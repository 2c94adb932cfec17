"""One self-contained HTML page for a study: plotly.js inline, every panel, and the numbers
behind them as JSON (so the page, the API and the CLI can be checked against each other)."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from statistics import median
from typing import Any

import plotly.offline
from optuna.trial import FrozenTrial

from service.report._figures import (
    final_evaluation,
    gradient_norms,
    history,
    importance_bars,
    learning_curves,
    lr_clip_outcomes,
    outcome,
    parallel_coordinates,
    pareto,
    slices,
)
from service.schemas import ImportancePublic, StudyPublic
from service.store import primary_value
from service.trial_attrs import ATTR_MESSAGE

__all__ = ["build_report", "health_summary"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{margin-bottom:0} .sub{color:#666;margin-top:4px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.panel{border:1px solid #ddd;border-radius:6px;padding:6px}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ddd;padding:4px 8px}
.kv td:first-child{font-weight:600}
"""


def health_summary(trials: Sequence[FrozenTrial]) -> dict[str, Any]:
    """Which trials diverged, and how divergence relates to the learning rate and clipping."""
    finished = [t for t in trials if outcome(t) in ("complete", "pruned", "diverged", "fail")]
    diverged = [t for t in finished if outcome(t) == "diverged"]
    summary: dict[str, Any] = {
        "diverged": [{"number": t.number, "lr": t.params.get("lr"),
                      "grad_clip": t.params.get("grad_clip"),
                      "message": t.user_attrs.get(ATTR_MESSAGE, "")} for t in diverged],
        "by_lr": [], "by_clipping": [],
    }
    with_lr = sorted((t for t in finished if isinstance(t.params.get("lr"), int | float)),
                     key=lambda t: t.params["lr"])
    if len(with_lr) >= 3:
        third = math.ceil(len(with_lr) / 3)
        for label, group in (("lowest third", with_lr[:third]),
                             ("middle third", with_lr[third:2 * third]),
                             ("highest third", with_lr[2 * third:])):
            if group:
                summary["by_lr"].append({
                    "lr_range": [group[0].params["lr"], group[-1].params["lr"]],
                    "group": label, "trials": len(group),
                    "diverged": sum(1 for t in group if outcome(t) == "diverged"),
                })
    clips = [t for t in finished if isinstance(t.params.get("grad_clip"), int | float)]
    if len(clips) >= 2:
        middle = median(t.params["grad_clip"] for t in clips)
        for label, group in (("clip at or below median", [t for t in clips
                                                          if t.params["grad_clip"] <= middle]),
                             ("clip above median", [t for t in clips
                                                    if t.params["grad_clip"] > middle])):
            summary["by_clipping"].append({
                "group": label, "median": middle, "trials": len(group),
                "diverged": sum(1 for t in group if outcome(t) == "diverged"),
            })
    return summary


def build_report(study: StudyPublic, trials: Sequence[FrozenTrial],
                 importance: ImportancePublic | None) -> str:
    metric = study.objective.metric
    maximize = study.objective.direction == "maximize"
    baseline = study.baseline.value if study.baseline else None
    importances = importance.importances if importance else {}
    top = sorted(importances, key=lambda n: -importances[n])[:3]
    params = sorted({name for t in trials for name in t.params})
    health = health_summary(trials)
    panels = [
        history(trials, metric=metric, maximize=maximize, baseline=baseline),
        learning_curves(trials, metric=metric),
        importance_bars(importances, importance.note if importance else None),
        parallel_coordinates(trials, metric=metric, params=params),
        *slices(trials, metric=metric, params=top or params[:3]),
        gradient_norms(trials),
        lr_clip_outcomes(trials),
    ]
    if study.pareto_front:
        panels.insert(0, pareto(trials, objectives=study.objectives,
                                front={p.number for p in study.pareto_front}))
    figures = "\n".join(
        f'<div class="panel">{figure.to_html(full_html=False, include_plotlyjs=False)}</div>'
        for figure in panels
    )
    data = {
        "study": study.model_dump(mode="json", exclude={"spec"}),
        "trials": [{"number": t.number, "state": outcome(t), "value": primary_value(t),
                    "params": t.params,
                    "intermediate_values": {str(k): v for k, v in t.intermediate_values.items()
                                            if math.isfinite(v)}}
                   for t in trials],
        "importance": importances,
        "pareto_front": [p.model_dump(mode="json") for p in study.pareto_front],
        "health": health,
    }
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>rnntune study {study.id}: {html.escape(study.name)}</title>
<style>{_STYLE}</style>
<script>{plotly.offline.get_plotlyjs()}</script>
</head><body>
<h1>Study {study.id}: {html.escape(study.name)}</h1>
<p class="sub">{html.escape(study.task)}, {html.escape(metric)} ({study.objective.direction}),
status {study.status}</p>
{_summary_table(study)}
{_final_section(study)}
<h2>Search</h2>
<div class="grid">{figures}</div>
<h2>RNN health</h2>
{_health_tables(health)}
<script type="application/json" id="rnntune-data">{_json_for_script(data)}</script>
</body></html>
"""


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _json_for_script(data: Any) -> str:
    # "</" would end the script element early.
    return json.dumps(data, default=str).replace("</", "<\\/")


def _summary_table(study: StudyPublic) -> str:
    counts = study.trials
    rows = [
        ("trials", f"{counts.finished}/{study.budget.n_trials} finished: {counts.complete} "
                   f"complete, {counts.pruned} pruned, {counts.fail} failed"),
        ("best", "-" if study.best is None else
         f"{study.best.value:.6g} (trial {study.best.number})"),
        ("baseline", "-" if study.baseline is None else
         f"{study.baseline.name}: {study.baseline.value:.6g}"),
    ]
    if study.best is not None:
        rows.append(("best parameters", ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in study.best.params.items())))
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                   for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _final_section(study: StudyPublic) -> str:
    """Test metric per seed beside the baselines (a small chart), the verdict, and how the
    configuration was chosen among the top trials."""
    evaluation = study.evaluation
    if evaluation is None or evaluation.status != "done":
        return ""
    metric = study.objective.metric.removeprefix("val_")
    if study.spec.get("objective", {}).get("metric", "").removeprefix("val_") == "loss" and any(
            b.metric.removeprefix("val_") == "accuracy" for b in evaluation.baselines):
        metric = "accuracy"  # a classifier tuned on its loss is compared on accuracy
    parts = ["<h2>Final evaluation</h2>"]
    if evaluation.verdict:
        parts.append(f'<p class="verdict">{html.escape(evaluation.verdict)}</p>')
    if evaluation.message:
        parts.append(f"<p>{html.escape(evaluation.message)}</p>")
    ensemble = evaluation.ensemble
    if ensemble is not None and metric in ensemble.test:
        parts.append(f"<p>The model served is the ensemble of seeds {ensemble.seeds} (their "
                     f"averaged predictions): test {html.escape(metric)} "
                     f"{ensemble.test[metric]:.4g}.</p>")
    refit = [run for run in evaluation.runs if run.refit == "completed" and run.stopped_test]
    if refit:
        stopped = ", ".join(f"{(run.stopped_test or {}).get(metric, math.nan):.4g}"
                            for run in refit)
        parts.append(f"<p>Each seed's model was trained again on the training and validation "
                     f"splits for {refit[0].refit_epochs} epochs (the median of those the "
                     f"seeds' validation chose); stopped on validation instead, the seeds "
                     f"scored test {html.escape(metric)} {stopped}.</p>")
    figure = final_evaluation(study, metric=metric)
    if figure is not None:
        figure.update_layout(height=320)
        parts.append(f'<div class="panel">'
                     f'{figure.to_html(full_html=False, include_plotlyjs=False)}</div>')
    selection = evaluation.selection
    if selection is not None:
        rows = "".join(
            f"<tr><td>{'&#9733; ' if c.trial == selection.winner else ''}{c.trial}</td>"
            f"<td>{_selection_values(c.splits or [c.values])}</td>"
            f"<td>{'-' if c.mean is None else f'{c.mean:.4g}'}</td></tr>"
            for c in selection.candidates)
        parts.append(
            f"<table><tr><th>candidate trial</th><th>{html.escape(selection.metric)} per seed "
            f"{selection.seeds} ({html.escape(selection.validation)})</th><th>mean</th></tr>"
            f"{rows}</table>"
            f"<p>{html.escape(selection.reason)}</p>")
    return "\n".join(parts)


def _health_tables(health: dict[str, Any]) -> str:
    diverged = health["diverged"]
    if diverged:
        rows = "".join(
            f"<tr><td>{d['number']}</td><td>{d['lr']}</td><td>{d['grad_clip']}</td>"
            f"<td>{html.escape(str(d['message']))}</td></tr>" for d in diverged)
        first = ("<table><tr><th>diverged trial</th><th>lr</th><th>grad_clip</th>"
                 f"<th>what happened</th></tr>{rows}</table>")
    else:
        first = "<p>No trial diverged.</p>"
    by_lr = "".join(
        f"<tr><td>{g['group']}</td><td>{g['lr_range'][0]:.3g} to {g['lr_range'][1]:.3g}</td>"
        f"<td>{g['diverged']}/{g['trials']}</td></tr>" for g in health["by_lr"])
    by_clip = "".join(
        f"<tr><td>{g['group']} ({g['median']:.3g})</td><td>{g['diverged']}/{g['trials']}</td>"
        "</tr>" for g in health["by_clipping"])
    second = (f"<table><tr><th>learning rate</th><th>range</th><th>diverged</th></tr>{by_lr}"
              "</table>") if by_lr else ""
    third = (f"<table><tr><th>gradient clipping</th><th>diverged</th></tr>{by_clip}</table>"
             if by_clip else "")
    return first + second + third


def _selection_values(rows: list[list[float | None]]) -> str:
    """Values per seed, and within a seed per validation split (split by ``;``)."""
    return "; ".join(", ".join("-" if v is None else f"{v:.4g}" for v in row) for row in rows)
