"""Fixed configurations of a study spec, each trained with several seeds and scored on the test
split as the final evaluation scores them, with the seed ensemble beside the per-seed spread.

The spec (a shipped example by default) gives the task, its splits, the objective and the
epochs; its search space is replaced by each configuration, fixed. Every run is
``service.tuning._evaluate.train_and_test``: the best validation epoch is kept and scored once
on the test split. ``--vary NAME=A,B`` crosses every configuration with those values (a model
option to compare); ``--random N`` draws N configurations from the spec's own search space
instead of (or beside) ``--config``. ``--refit`` also trains each run again on training plus
validation for the median of the epochs the seeds' validation chose (``evaluation.refit``) and
reports both models side by side. One torch thread; each finished configuration is saved
under ``--results`` and skipped when the script runs again.

    nice -n 19 python -m bench.fixed_configs --vary readout=last,mean,mean_max \\
        --config '{"cell": "gru", "bidirectional": true, "hidden_size": 64, "lr": 0.003}'
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import torch

from service.config import default_search_spaces_dir
from service.models import SeedEnsemble, SequenceModel
from service.spaces import load_untrusted_yaml
from service.specs import parse_spec_mapping
from service.tasks import TaskData
from service.tuning import resolve_spec
from service.tuning._evaluate import (
    _test_metrics,
    best_hparams,
    refit_and_test,
    refit_epochs,
    train_and_test,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT / "docs" / "examples" / "japanese-vowels.yaml"
DEFAULT_RESULTS = ROOT / "bench" / "results" / "fixed_configs"


def run_config(
    spec: dict[str, Any], params: dict[str, Any], seeds: list[int], metric: str, *,
    refit: bool = False,
) -> dict[str, Any]:
    """Train ``params`` (fixed, the rest from the catalog's defaults) with every seed; the test
    ``metric`` per seed, their mean and sample sd, and the seed ensemble's. With ``refit`` the
    models stopped on validation are also trained again on training plus validation for the
    median of their chosen epochs (as the final evaluation's ``evaluation.refit``): both are
    reported, side by side."""
    resolved = resolve_spec(
        parse_spec_mapping({**spec, "search_space": {"params": params}}),
        spaces_dir=default_search_spaces_dir(),
    )
    hp = best_hparams(resolved, {})
    device = torch.device("cpu")
    models: dict[str, list[SequenceModel]] = {"stopped": [], "refit": []}
    values: dict[str, list[float]] = {"stopped": [], "refit": [], "refit_last": []}
    kept: list[TaskData] = []

    def keep(model: SequenceModel, data: TaskData) -> None:
        models["stopped"].append(model)
        kept[:] = [data]

    runs = []
    for seed in seeds:
        run = train_and_test(resolved, hp, seed=seed, device=device, on_model=keep)
        assert run is not None and run.status == "completed", f"seed {seed} did not train"
        runs.append(run)
        values["stopped"].append(run.test[metric])
        print(f"  seed {seed}: test {metric} {run.test[metric]:.4f} (best epoch "
              f"{run.best_epoch}, {run.duration_s:.0f} s)", flush=True)
    epochs = refit_epochs(runs) if refit else None
    for run in runs if epochs else []:
        refitted = refit_and_test(resolved, hp, run, epochs=epochs, data=kept[0], device=device)
        assert refitted is not None and refitted[1] is not None, f"seed {run.seed}: refit"
        values["refit"].append(refitted[0].test[metric])
        values["refit_last"].append((refitted[0].last_epoch_test or {})[metric])
        models["refit"].append(refitted[1])
        print(f"  seed {run.seed}: refit for {epochs} epochs: test {metric} "
              f"{values['refit'][-1]:.4f} (last epoch's weights alone "
              f"{values['refit_last'][-1]:.4f})", flush=True)
    row: dict[str, Any] = {"params": params, "seeds": seeds}
    if values["refit_last"]:
        row["refit_last_values"] = values["refit_last"]
    for name, prefix in (("stopped", ""), ("refit", "refit_")):
        if not values[name]:
            continue
        ensemble = SeedEnsemble(models[name],
                                classification=kept[0].kind == "classification").eval()
        row.update({
            f"{prefix}values": values[name],
            f"{prefix}mean": statistics.fmean(values[name]),
            f"{prefix}sd": statistics.stdev(values[name]) if len(values[name]) > 1 else 0.0,
            f"{prefix}ensemble": _test_metrics(resolved, hp, ensemble, kept[0], device)[metric],
        })
    return row


def refit_summary(rows: list[dict[str, Any]], metric: str, *, maximize: bool) -> str:
    """One paragraph over every configuration: the stopped and refit models' runs and
    ensembles, their means and how often the refit scored better."""
    stopped = [v for row in rows for v in row["values"]]
    refit = [v for row in rows for v in row["refit_values"]]

    def better(a: float, b: float) -> bool:
        return a > b if maximize else a < b

    last = [v for row in rows for v in row.get("refit_last_values", [])]
    runs_won = sum(better(r, s) for r, s in zip(refit, stopped, strict=True))
    runs_lost = sum(better(s, r) for r, s in zip(refit, stopped, strict=True))
    ens = [(row["ensemble"], row["refit_ensemble"]) for row in rows]
    ens_won = sum(better(r, s) for s, r in ens)
    ens_lost = sum(better(s, r) for s, r in ens)
    return (
        f"\n{len(rows)} configurations, {len(stopped)} seed runs, test {metric}: stopped on "
        f"validation mean {statistics.fmean(stopped):.4g} (median "
        f"{statistics.median(stopped):.4g}), refit mean {statistics.fmean(refit):.4g} (median "
        f"{statistics.median(refit):.4g}); the refit better in {runs_won} runs, worse in "
        f"{runs_lost}.{_tail_summary(last, refit, better)} Ensembles: stopped "
        f"{statistics.fmean(e[0] for e in ens):.4g}, refit "
        f"{statistics.fmean(e[1] for e in ens):.4g}; the refit better in {ens_won} of "
        f"{len(ens)}, worse in {ens_lost}."
    )


def _tail_summary(last: list[float], refit: list[float],
                  better: Callable[[float, float], bool]) -> str:
    if len(last) != len(refit) or not last:
        return ""  # results from before the refit averaged its last quarter
    won = sum(better(r, v) for r, v in zip(refit, last, strict=True))
    lost = sum(better(v, r) for r, v in zip(refit, last, strict=True))
    return (f" The refit's last epoch's weights alone: mean {statistics.fmean(last):.4g} (median "
            f"{statistics.median(last):.4g}); the last quarter's average better in {won} runs, "
            f"worse in {lost}.")


def _configs(args: argparse.Namespace, spec: dict[str, Any]) -> list[dict[str, Any]]:
    base = [json.loads(text) for text in args.config or []]
    for seed in (args.draw_seed.split(",") if args.random else []):
        base += random_configs(spec, args.random, seed=int(seed))
    if not args.vary:
        return base
    name, _, values = args.vary.partition("=")
    choices = [_value(v) for v in values.split(",")]
    return [{**config, name: choice} for config in base for choice in choices]


def random_configs(spec: dict[str, Any], count: int, *, seed: int) -> list[dict[str, Any]]:
    """``count`` configurations drawn at random from the spec's own search space (Optuna's
    random sampler with ``seed``), each as the values it fixes."""
    resolved = resolve_spec(parse_spec_mapping(spec), spaces_dir=default_search_spaces_dir())
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    drawn = []
    for _ in range(count):
        trial = study.ask()
        drawn.append(resolved.space.suggest(trial))
        study.tell(trial, 0.0)
    return drawn


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # a bare word: a categorical choice


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fixed_configs",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument(
        "--config",
        action="append",
        help="a configuration as a JSON mapping of hyperparameters; repeatable",
    )
    parser.add_argument("--random", type=int, default=0,
                        help="also this many configurations drawn at random from the spec's "
                        "search space")
    parser.add_argument("--draw-seed", default="0",
                        help="the random draws' seed; several, comma-separated, draw --random "
                        "configurations with each")
    parser.add_argument("--vary", help="NAME=A,B,...: each configuration with each value")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--metric", default="accuracy", help="the test metric reported")
    parser.add_argument("--max-epochs", type=int, help="instead of the spec's budget")
    parser.add_argument("--refit", action="store_true",
                        help="also train each run again on training plus validation for the "
                        "median of the seeds' chosen epochs, and report both models")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as a worker trains
    spec = dict(load_untrusted_yaml(args.spec.read_text()))
    spec.pop("name", None)
    if args.max_epochs:
        spec["budget"] = {**spec.get("budget", {}), "max_epochs": args.max_epochs}
    seeds = [int(s) for s in args.seeds.split(",")]
    args.results.mkdir(parents=True, exist_ok=True)
    rows = []
    configs = _configs(args, spec)
    if not configs:
        parser.error("give --config or --random")
    for params in configs:
        what = {"spec": spec, "params": params, "seeds": seeds, "metric": args.metric}
        if args.refit:
            what["refit"] = "tail-average"  # the last quarter's weights averaged
        key = json.dumps(what, sort_keys=True)
        path = args.results / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
        if path.exists():
            row = json.loads(path.read_text())
        else:
            print(json.dumps(params, sort_keys=True), flush=True)
            row = run_config(spec, params, seeds, args.metric, refit=args.refit)
            row["spec"] = spec  # what the runs were of (task, epochs), beside their results
            path.write_text(json.dumps(row, indent=1))
        rows.append(row)
    if args.refit:
        print(refit_summary(rows, args.metric, maximize=args.metric in ("accuracy", "f1_macro")))
    models = ("", "refit_") if args.refit else ("",)
    print(f"\n| configuration | model | test {args.metric}, seeds {args.seeds} | mean ± sd | "
          "ensemble |")
    print("|---|---|---|---|---|")
    for row in rows:
        for prefix in models:
            per_seed = ", ".join(f"{v:.3f}" for v in row[f"{prefix}values"])
            print(
                f"| {json.dumps(row['params'], sort_keys=True)} | "
                f"{'refit on train+val' if prefix else 'stopped on val'} | {per_seed} | "
                f"{row[f'{prefix}mean']:.3f} ± {row[f'{prefix}sd']:.3f} | "
                f"{row[f'{prefix}ensemble']:.3f} |"
            )


if __name__ == "__main__":
    main()
