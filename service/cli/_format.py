"""How studies, trials and data sets read in a terminal."""

from __future__ import annotations

import json
from typing import Any

from service.schemas import DatasetPublic, EvaluationRun, StudyPublic, TrialPublic

__all__ = [
    "dataset_line",
    "evaluation_lines",
    "num",
    "print_json",
    "search_trials",
    "short",
    "study_line",
    "trial_line",
]


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def study_line(study: StudyPublic) -> str:
    counts = study.trials
    best = "-" if study.best is None else f"{study.best.value:.6g}"
    baseline = ""
    if study.baseline is not None and study.baseline.value is not None:
        baseline = f" (baseline {study.baseline.value:.4g})"
    return (f"{study.id:>4}  {study.name:<28} {study.status:<10} "
            f"{counts.finished:>3}/{search_trials(study):<4} complete={counts.complete} "
            f"pruned={counts.pruned} fail={counts.fail} running={counts.running}  "
            f"best {study.objective.metric}={best}{baseline}{evaluation_brief(study)}")


def search_trials(study: StudyPublic) -> int:
    """What the search runs: the budget less the selection step's re-runs."""
    return study.search_trials or study.budget.n_trials


def num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def evaluation_brief(study: StudyPublic) -> str:
    evaluation = study.evaluation
    if evaluation is None:
        return ""
    if evaluation.status != "done" or evaluation.seeds is None:
        return f"  eval {evaluation.status}"
    metric = study.objective.metric.removeprefix("val_")
    test = (evaluation.test or {}).get(metric)
    seeds = evaluation.seeds
    ensemble = ("" if evaluation.ensemble is None
                else f" ensemble {num(evaluation.ensemble.test.get(metric))}")
    return (f"  test {metric}={num(test)} seeds {num(seeds.mean)}\u00b1{num(seeds.std)} "
            f"(n={len(seeds.seeds)}){ensemble}")


def evaluation_lines(study: StudyPublic) -> list[str]:
    """The best value, the final evaluation and every baseline, one per line."""
    metric = study.objective.metric.removeprefix("val_")
    lines = [f"validation best val_{metric}: "
             f"{num(None if study.best is None else study.best.value)}"
             + ("" if study.best is None else f" (trial {study.best.number})")]
    evaluation = study.evaluation
    if evaluation is None:
        lines.append("test evaluation: none (the study did not complete)")
    elif evaluation.status != "done":
        message = f": {evaluation.message}" if evaluation.message else ""
        lines.append(f"test evaluation: {evaluation.status}{message}")
    else:
        test = evaluation.test or {}
        lines.append("test (study seed): " + " ".join(f"{k}={num(v)}" for k, v in test.items()))
        if evaluation.seeds is not None:
            seeds = evaluation.seeds
            values = ", ".join(num(v) for v in seeds.values)
            lines.append(f"test_{metric} over seeds {seeds.seeds}: mean {num(seeds.mean)} "
                         f"std {num(seeds.std)} [{values}]")
            others = [f"{name} {num(spread.mean)}\u00b1{num(spread.std)}"
                      for name, spread in seeds.metrics.items() if name not in (metric, "loss")]
            if others:
                lines.append("other test metrics over seeds: " + ", ".join(others))
        lines.extend(refit_lines(evaluation.runs or [], metric))
        if evaluation.ensemble is not None:
            ensemble = evaluation.ensemble
            lines.append(f"test (ensemble of seeds {ensemble.seeds}, the model served): "
                         + " ".join(f"{k}={num(v)}" for k, v in ensemble.test.items()))
        lines.extend(selection_lines(study))
        if evaluation.message:  # e.g. the configuration came from a stopped trial
            lines.append(f"note: {evaluation.message}")
        if evaluation.verdict:
            lines.append(f"verdict: {evaluation.verdict}")
    shown = (study.evaluation.baselines if study.evaluation and study.evaluation.baselines
             else study.baselines or ([study.baseline] if study.baseline else []))
    # Fitted baselines carry every metric; the objective's (and accuracy) are the ones to read.
    wanted = {metric, "accuracy"}
    for baseline in [b for b in shown if b.metric.removeprefix("val_") in wanted]:
        lines.append(f"baseline {baseline.name} {baseline.metric.removeprefix('val_')}: val "
                     f"{num(baseline.value)}, test {num(baseline.test_value)}  "
                     f"({baseline.description})")
    return lines


def refit_lines(runs: list[EvaluationRun], metric: str) -> list[str]:
    """Where the seed runs were trained again on training plus validation: the stopped
    models' test scores beside the refit ones the scores above are."""
    refit = [run for run in runs if run.refit is not None]
    if not refit:
        return []
    stopped = ", ".join(num((run.stopped_test or run.test).get(metric)) for run in refit)
    diverged = sum(run.refit == "diverged" for run in refit)
    note = f"; {diverged} refit diverged, its stopped model kept" if diverged else ""
    chosen = ", ".join(str(run.best_epoch) for run in refit)
    return [f"refit on training+validation for {refit[0].refit_epochs} epochs (the median of "
            f"those validation chose: {chosen}); the models stopped on validation scored "
            f"test_{metric} [{stopped}]{note}"]


def selection_lines(study: StudyPublic) -> list[str]:
    """The top trials' validation values per seed and why the winner won."""
    selection = study.evaluation.selection if study.evaluation else None
    if selection is None:
        return []
    lines = [f"selection over seeds {selection.seeds}, validation {selection.validation} "
             f"({selection.runs} re-runs in the budget):"]
    for candidate in selection.candidates:
        mark = "*" if candidate.trial == selection.winner else " "
        values = ", ".join(num(v) for v in candidate.values)
        if candidate.splits:  # per seed, its value on each split
            values = "; ".join(" ".join(num(v) for v in row) for row in candidate.splits)
        lines.append(f" {mark} trial {candidate.trial}: {selection.metric} mean "
                     f"{num(candidate.mean)} std {num(candidate.std)} [{values}]")
    lines.append(f"chosen: {selection.reason}")
    return lines


def trial_line(trial: TrialPublic) -> str:
    value = "-" if trial.value is None else f"{trial.value:.6g}"
    last = trial.epochs[-1] if trial.epochs else None
    curve = "" if last is None else f" epochs={len(trial.epochs)}"
    reason = f" ({trial.prune_reason})" if trial.prune_reason else ""
    duration = "" if trial.duration_s is None else f" {trial.duration_s:.1f}s"
    params = " ".join(f"{k}={short(v)}" for k, v in trial.params.items())
    head = f"#{trial.number:<4} {trial.state:<8}{reason:<11}"
    return f"{head} value={value}{curve}{duration}  {params}"


def short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def dataset_line(dataset: DatasetPublic) -> str:
    meta = dataset.meta
    if dataset.format == "npz":
        shape = f"{meta.get('n_samples')} sequences"
        if meta.get("carved"):
            shape += f" ({' and '.join(meta['carved'])} carved from the given train part)"
    else:
        shape = f"{meta.get('n_rows')} rows, target {meta.get('target')}"
        if meta.get("covariates"):
            shape += f", covariates {', '.join(meta['covariates'][:5])}"
        if meta.get("frequency"):
            shape += f", {meta['frequency']}"
    return (f"{dataset.id:>4}  {dataset.name:<28} {dataset.kind:<14} {dataset.format:<4} "
            f"{dataset.size_bytes:>10,} B  {shape}")
