"""Setup 4 of ``search_efficiency.py``: Ray Tune's ``ASHAScheduler`` over the same space and
the same training code (rnntune's model and ``Trainer``, reporting each epoch), as many
concurrent trials as cores, random search (Ray's default), within a wall-clock budget.

Run in its own process so that Ray's runtime starts and ends with the run:

    python -m bench._ray_asha REQUEST.json RESULT.json

REQUEST holds the study spec (task, inline space, objective, max_epochs, seed), the budget,
the number of concurrent trials and the search seed; RESULT gets the trials as
``_anytime.TrialRecord`` fields, timed from the start of ``Tuner.fit``. Needs ``ray[tune]``
(``bench/requirements.txt``), which rnntune itself does not depend on.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = str(Path(__file__).resolve().parent.parent)

# A diverged epoch is reported as this (ASHA cannot rank NaN); the record keeps the NaN.
DIVERGED = 1e9


def param_space(params: dict[str, Any]) -> dict[str, Any]:
    """The search space's parameters as Ray Tune's sampling functions (no conditions)."""
    from ray import tune

    out: dict[str, Any] = {}
    for name, p in params.items():
        if not isinstance(p, dict):
            out[name] = p  # a fixed value
        elif "when" in p:
            raise ValueError(f"{name}: conditional parameters are not translated for Ray Tune")
        elif p["type"] == "categorical":
            out[name] = tune.choice(p["choices"])
        elif p["type"] == "int":
            sample = tune.lograndint if p.get("log") else tune.randint
            out[name] = sample(p["low"], p["high"] + 1)  # Ray's upper bound is exclusive
        elif p["type"] == "float":
            out[name] = (tune.loguniform if p.get("log") else tune.uniform)(p["low"], p["high"])
        else:
            raise ValueError(f"{name}: parameter type {p['type']!r} is not translated")
    return out


def trainable(config: dict[str, Any], spec: dict[str, Any]) -> None:
    """One trial: rnntune's model and Trainer on the task, one report per epoch."""
    import torch
    from ray import tune

    from service.config import Settings
    from service.training import EpochResult, Trainer
    from service.tuning import parse_spec_mapping, resolve_spec
    from service.tuning._objective import build_model, build_train_config, load_task_data

    started = time.time()
    torch.set_num_threads(1)  # one trial per core
    resolved = resolve_spec(parse_spec_mapping(spec), spaces_dir=Settings().search_spaces_dir)
    hp = resolved.space.resolve(dict(config))
    device = torch.device("cpu")
    data = load_task_data(resolved, device, hp)
    torch.manual_seed(resolved.spec.seed)
    model = build_model(hp, data)
    train = build_train_config(hp, max_epochs=resolved.spec.budget.max_epochs,
                               seed=resolved.spec.seed, device=device)
    trainer = Trainer(model, train, kind=data.kind, device=device,
                      target_scale=data.target_scale)
    sign = -1.0 if resolved.direction == "maximize" else 1.0

    def on_epoch_end(result: EpochResult) -> bool:
        value = float(result.val_metrics[resolved.metric_key])
        tune.report({"value": value if math.isfinite(value) else sign * DIVERGED,
                     "raw": value, "t": time.time(), "started": started})
        return False

    trainer.fit(data.train, data.val, on_epoch_end=on_epoch_end)


def main(request_path: Path, result_path: Path) -> None:
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    request = json.loads(request_path.read_text())
    spec, budget, workers = request["spec"], float(request["budget_s"]), int(request["workers"])
    max_epochs = int(spec["budget"]["max_epochs"])
    mode = request["direction"][:3]  # "min" or "max"
    # Ray's workers import the trainable from this module: they inherit the path.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="rnntune-bench-ray-") as tmp:
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(trainable, spec=spec), {"cpu": 1}),
            param_space=param_space(spec["search_space"]["params"]),
            tune_config=tune.TuneConfig(
                metric="value", mode=mode, num_samples=-1, time_budget_s=budget,
                max_concurrent_trials=workers,
                scheduler=ASHAScheduler(time_attr="training_iteration", max_t=max_epochs,
                                        grace_period=1),
                search_alg=BasicVariantGenerator(random_state=int(request["seed"]))),
            run_config=tune.RunConfig(storage_path=tmp, name="bench", verbose=0),
        )
        origin = time.time()
        grid = tuner.fit()
        wall = time.time() - origin
        results = [grid[i] for i in range(len(grid))]
        trials = [_record(result, origin=origin, budget=budget, max_epochs=max_epochs)
                  for result in results]
    ray.shutdown()
    found = [t for t in trials if t is not None]
    errors = [str(r.error).strip().splitlines()[-1] for r in results if r.error is not None]
    notes = [f"{len(found)} of {len(results)} trials reported at least one epoch"]
    if errors:
        notes.append(f"{len(errors)} trials failed; the last: {errors[-1]}")
    result_path.write_text(json.dumps({"trials": found, "wall_s": wall, "notes": notes}))


def _record(result: Any, *, origin: float, budget: float,
            max_epochs: int) -> dict[str, Any] | None:
    frame = result.metrics_dataframe
    if frame is None or frame.empty or "t" not in frame:
        return None  # started too late to finish an epoch
    values = [float(v) for v in frame["raw"]]
    ends = [float(t) - origin for t in frame["t"]]
    start = float(frame["started"].iloc[0]) - origin
    epoch_s = (ends[-1] - start) / len(ends)
    if len(values) >= max_epochs:
        state, end = "complete", ends[-1]
    elif result.error is not None:
        state, end = "failed", ends[-1]
    elif budget - ends[-1] < 1.5 * epoch_s:
        state, end = "running", budget  # the budget, not ASHA, ended it inside an epoch
    else:
        state, end = "pruned", ends[-1]
    params = {k: v for k, v in result.config.items()}
    return {"params": params, "state": state, "values": values, "ends": ends,
            "busy": [(start, end)]}


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
