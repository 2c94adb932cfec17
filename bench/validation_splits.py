"""Does scoring candidates on several validation splits choose better than one split?

Fixed configurations of a built-in task are each trained with seeds x splits (the selection
step's ``evaluation.validation: {scheme: repeated}``), through the service's own code
(``validation_folds``, ``train_and_test``). For each configuration it prints the validation
metric per seed and split and the test metric of the study's-split runs, then how well each
way of scoring (the study's split with one seed, with every seed, every split with one seed,
every seed and split) ranks the configurations as the test split does (Spearman), and which
configuration each would choose.

    python -m bench.validation_splits sunspots --seeds 3 --splits 3
    python -m bench.validation_splits japanese_vowels --seeds 2 --splits 3 --device cuda

The configurations are those of docs/tasks.md (measured before on fixed seeds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from service.specs import parse_spec_mapping
from service.tasks import validation_folds
from service.tuning import best_hparams, resolve_spec
from service.tuning._evaluate import train_and_test
from service.tuning._objective import load_task_data

SPACES = Path(__file__).resolve().parents[1] / "search_spaces"
_COMMON = {"weight_decay": 1e-5, "batch_size": 16, "grad_clip": 1.0}
CONFIGS: dict[str, list[dict[str, Any]]] = {
    "sunspots": [
        {"cell": "lstm", "num_layers": 2, "hidden_size": 16, "window": 29, "highway": 24,
         "lr": 0.0012},
        {"cell": "lstm", "num_layers": 2, "hidden_size": 14, "window": 23, "highway": 24,
         "lr": 0.0044},
        {"cell": "lstm", "num_layers": 2, "hidden_size": 21, "window": 19, "highway": 12,
         "diff_inputs": True, "lr": 0.008},
        {"cell": "gru", "num_layers": 1, "hidden_size": 46, "window": 16, "highway": 24,
         "lr": 0.013},
        {"cell": "gru", "num_layers": 1, "hidden_size": 16, "window": 12, "highway": 12,
         "lr": 0.01},
    ],
    "japanese_vowels": [
        {"cell": "lstm", "bidirectional": True, "hidden_size": 71, "lr": 0.028},
        {"cell": "lstm", "bidirectional": True, "hidden_size": 74, "lr": 0.0018,
         "batch_size": 64},
        {"cell": "lstm", "hidden_size": 33, "lr": 0.0027, "batch_size": 32},
        {"cell": "gru", "bidirectional": True, "hidden_size": 64, "lr": 0.003,
         "weight_decay": 1e-4},
    ],
}
EPOCHS = {"sunspots": 100, "japanese_vowels": 60}
METRIC = {"sunspots": "mse", "japanese_vowels": "loss"}


def measure(task: str, seeds: int, splits: int, device: str, *, epochs: int | None = None,
            configs: int | None = None) -> dict[str, Any]:
    """Train every configuration (the first ``configs``) with every seed on every split."""
    rows = []
    for config in CONFIGS[task][:configs]:
        params = {**_COMMON, **config}
        spec = parse_spec_mapping({
            "task": {"name": task}, "search_space": {"params": params},
            "objective": {"metric": f"val_{METRIC[task]}"},
            "budget": {"n_trials": 1, "max_epochs": epochs or EPOCHS[task]},
        })
        resolved = resolve_spec(spec, spaces_dir=SPACES)
        hp = best_hparams(resolved, {})
        folds = validation_folds(load_task_data(resolved, torch.device(device), hp),
                                 splits=splits, seed=0)
        val, test = [], []
        started = time.perf_counter()
        for seed in range(seeds):
            row = []
            for number, fold in enumerate(folds):
                run = train_and_test(resolved, hp, seed=seed, device=torch.device(device),
                                     data=fold)
                assert run is not None
                row.append(run.val.get(METRIC[task]))
                if number == 0:
                    test.append(run.test.get(METRIC[task]))
            val.append(row)
        rows.append({"params": config, "val": val, "test": test,
                     "seconds": time.perf_counter() - started})
        print(json.dumps(rows[-1]), flush=True)
    return {"task": task, "seeds": seeds, "splits": splits, "configs": rows,
            "scores": _compare(rows)}


def _compare(rows: list[dict[str, Any]]) -> dict[str, Any]:
    test = [statistics.fmean(r["test"]) for r in rows]
    ways = {
        "study split, seed 0": lambda v: v[0][0],
        "study split, every seed": lambda v: statistics.fmean(r[0] for r in v),
        "every split, seed 0": lambda v: statistics.fmean(v[0]),
        "every split and seed": lambda v: statistics.fmean(x for r in v for x in r),
    }
    out = {}
    for name, score in ways.items():
        scores = [score(r["val"]) for r in rows]
        chosen = int(np.argmin(scores))
        out[name] = {"spearman_with_test": _spearman(scores, test), "chooses": chosen,
                     "chosen_test": test[chosen], "best_test": min(test)}
    return out


def _spearman(a: list[float], b: list[float]) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.validation_splits",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=sorted(CONFIGS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--quick", action="store_true",
                        help="two configurations, one epoch: checks that the script runs")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result = measure(args.task, args.seeds, args.splits, args.device,
                     epochs=1 if args.quick else None, configs=2 if args.quick else None)
    print(json.dumps(result["scores"], indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
