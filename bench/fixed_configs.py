"""Fixed configurations of a study spec, each trained with several seeds and scored on the test
split as the final evaluation scores them, with the seed ensemble beside the per-seed spread.

The spec (a shipped example by default) gives the task, its splits, the objective and the
epochs; its search space is replaced by each configuration, fixed. Every run is
``service.tuning._evaluate.train_and_test``: the best validation epoch is kept and scored once
on the test split. ``--vary NAME=A,B`` crosses every configuration with those values (a model
option to compare). One torch thread; each finished configuration is saved under ``--results``
and skipped when the script runs again.

    nice -n 19 python -m bench.fixed_configs --vary readout=last,mean,mean_max \\
        --config '{"cell": "gru", "bidirectional": true, "hidden_size": 64, "lr": 0.003}'
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
from pathlib import Path
from typing import Any

import torch

from service.config import default_search_spaces_dir
from service.models import SeedEnsemble, SequenceModel
from service.spaces import load_untrusted_yaml
from service.specs import parse_spec_mapping
from service.tasks import TaskData
from service.tuning import resolve_spec
from service.tuning._evaluate import _test_metrics, best_hparams, train_and_test

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT / "docs" / "examples" / "japanese-vowels.yaml"
DEFAULT_RESULTS = ROOT / "bench" / "results" / "fixed_configs"


def run_config(
    spec: dict[str, Any], params: dict[str, Any], seeds: list[int], metric: str
) -> dict[str, Any]:
    """Train ``params`` (fixed, the rest from the catalog's defaults) with every seed; the test
    ``metric`` per seed, their mean and sample sd, and the seed ensemble's."""
    resolved = resolve_spec(
        parse_spec_mapping({**spec, "search_space": {"params": params}}),
        spaces_dir=default_search_spaces_dir(),
    )
    hp = best_hparams(resolved, {})
    device = torch.device("cpu")
    models: list[SequenceModel] = []
    kept: list[TaskData] = []

    def keep(model: SequenceModel, data: TaskData) -> None:
        models.append(model)
        kept[:] = [data]

    values: list[float] = []
    for seed in seeds:
        run = train_and_test(resolved, hp, seed=seed, device=device, on_model=keep)
        assert run is not None and run.status == "completed", f"seed {seed} did not train"
        values.append(run.test[metric])
        print(
            f"  seed {seed}: test {metric} {values[-1]:.4f} (best epoch {run.best_epoch}, "
            f"{run.duration_s:.0f} s)",
            flush=True,
        )
    data = kept[0]
    ensemble = SeedEnsemble(models, classification=data.kind == "classification").eval()
    ens = _test_metrics(resolved, hp, ensemble, data, device)[metric]
    return {
        "params": params,
        "seeds": seeds,
        "values": values,
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "ensemble": ens,
    }


def _configs(args: argparse.Namespace) -> list[dict[str, Any]]:
    base = [json.loads(text) for text in args.config]
    if not args.vary:
        return base
    name, _, values = args.vary.partition("=")
    choices = [_value(v) for v in values.split(",")]
    return [{**config, name: choice} for config in base for choice in choices]


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
        required=True,
        help="a configuration as a JSON mapping of hyperparameters; repeatable",
    )
    parser.add_argument("--vary", help="NAME=A,B,...: each configuration with each value")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--metric", default="accuracy", help="the test metric reported")
    parser.add_argument("--max-epochs", type=int, help="instead of the spec's budget")
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
    for params in _configs(args):
        key = json.dumps(
            {"spec": spec, "params": params, "seeds": seeds, "metric": args.metric}, sort_keys=True
        )
        path = args.results / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
        if path.exists():
            row = json.loads(path.read_text())
        else:
            print(json.dumps(params, sort_keys=True), flush=True)
            row = run_config(spec, params, seeds, args.metric)
            row["spec"] = spec  # what the runs were of (task, epochs), beside their results
            path.write_text(json.dumps(row, indent=1))
        rows.append(row)
    print(f"\n| configuration | test {args.metric}, seeds {args.seeds} | mean ± sd | ensemble |")
    print("|---|---|---|---|")
    for row in rows:
        per_seed = ", ".join(f"{v:.3f}" for v in row["values"])
        print(
            f"| {json.dumps(row['params'], sort_keys=True)} | {per_seed} | "
            f"{row['mean']:.3f} ± {row['sd']:.3f} | {row['ensemble']:.3f} |"
        )


if __name__ == "__main__":
    main()
