"""GPU sharing: finished trials per hour on one GPU with 1, 2 and 4 worker processes sharing
it (``rnntune worker --gpus 0 --per-gpu N``), for two models of the built-in spaces:

- *adding*: an LSTM of 64 units, batch 64, on the adding problem (T=100, 8,192 training and
  1,024 validation sequences), 3 epochs per trial;
- *vowels*: the largest JapaneseVowels model of ``search_spaces/classification.yaml`` (a
  bidirectional 2-layer LSTM of 128 units, dropout 0.2, batch 32), 10 epochs per trial.

Each measurement is a fresh ``rnntune serve --workers 0`` (the API) on a SQLite file and a
fresh ``rnntune worker`` pool on the GPU; once the workers sit idle a study of many trials is
POSTed (random ``lr`` in [1e-3, 1e-2], no pruner), and the trials that end inside a window
that opens ``--warmup`` seconds after the POST (CUDA start-up and first-trial costs fall
before it) are counted. Each trial does the same work, so trials per hour is the throughput.

    python -m bench.gpu_share --per-gpu 1,2,4 --write-doc

``--cpu`` runs the same measurement with ``--workers N --device cpu`` (a smoke test on a
machine without a GPU); ``--quick`` shrinks the models and the window; ``--load PATH`` writes
the section from a saved result file (``--save PATH`` writes one).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from bench._benchmarks_doc import DOC_PATH, write_section
from bench._machine import machine_facts
from bench._quiet import wait_until_settled
from bench._server import free_port, start_server, stop_server, utcnow_naive
from service.config import Settings
from service.store import StudyStore

SECTION_TITLE = "## GPU sharing: trials per hour with 1, 2 and 4 trials on one GPU"
TARGET = 2.5  # trials/hour at 4 per GPU against 1

MODELS: dict[str, dict[str, Any]] = {
    "adding": {
        "task": {"name": "adding", "seq_len": 100, "n_train": 8192, "n_val": 1024,
                 "n_test": 64},
        "params": {"cell": "lstm", "hidden_size": 64, "num_layers": 1, "batch_size": 64},
        "metric": "val_mse", "max_epochs": 3,
        "label": "LSTM h=64, adding T=100, 8,192 sequences, batch 64, 3 epochs",
    },
    "vowels": {
        "task": {"name": "japanese_vowels"},
        "params": {"cell": "lstm", "bidirectional": True, "hidden_size": 128, "num_layers": 2,
                   "dropout": 0.2, "batch_size": 32, "weight_decay": 1e-5, "grad_clip": 1.0},
        "metric": "val_loss", "max_epochs": 10,
        "label": "bidirectional 2-layer LSTM h=128, JapaneseVowels, batch 32, 10 epochs",
    },
}
QUICK_TASKS: dict[str, dict[str, Any]] = {
    "adding": {"name": "adding", "seq_len": 10, "n_train": 256, "n_val": 64, "n_test": 16},
    "vowels": {"name": "japanese_vowels"},
}


def spec_for(model: str, *, quick: bool) -> dict[str, Any]:
    entry = MODELS[model]
    params = dict(entry["params"])
    if quick:
        params["hidden_size"] = 8
    params["lr"] = {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}
    return {
        "task": QUICK_TASKS[model] if quick else entry["task"],
        "search_space": {"params": params},
        "objective": {"metric": entry["metric"]},
        "sampler": {"name": "random", "seed": 0},
        "pruner": {"name": "none"},
        "budget": {"n_trials": 10_000, "max_epochs": 1 if quick else entry["max_epochs"]},
        "evaluation": {"seeds": 1},
    }


def gpu_sample() -> str:
    """One reading of the GPU's load and memory, or '' where nvidia-smi is absent."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
             "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    util, memory = (part.strip() for part in out.splitlines()[0].split(","))
    return f"{util}% busy, {memory} MiB"


def measure(model: str, per_gpu: int, *, cpu: bool, quick: bool, warmup_s: float,
            window_s: float) -> dict[str, Any]:
    """One pool of ``per_gpu`` workers on the GPU (or the CPU) training ``model``."""
    with tempfile.TemporaryDirectory(prefix="rnntune-gpu-") as tmp:
        folder = Path(tmp)
        database_url = f"sqlite:///{folder / 'rnntune.db'}"
        port = free_port()
        server = start_server(database_url, port, folder, workers=0)
        placement = (["--workers", str(per_gpu), "--device", "cpu"] if cpu
                     else ["--gpus", "0", "--per-gpu", str(per_gpu)])
        env = {**os.environ, "RNNTUNE_DATABASE_URL": database_url,
               "RNNTUNE_LOG_LEVEL": "warning"}
        worker = subprocess.Popen([sys.executable, "-m", "service.cli", "worker", *placement],
                                  cwd=folder, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            wait_until_settled(worker.pid, children=per_gpu)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                posted = utcnow_naive()
                response = client.post("/v1/studies", json=spec_for(model, quick=quick))
                if response.status_code != 201:
                    raise RuntimeError(f"POST /v1/studies: {response.status_code} {response.text}")
                study_id = int(response.json()["id"])
                time.sleep(warmup_s + window_s / 2)
                load = gpu_sample()
                time.sleep(window_s / 2 + 1.0)
        finally:
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            stop_server(server)
        store = StudyStore(Settings(database_url=database_url, log_level="warning"))
        try:
            trials = store.trials(store.get(study_id))
        finally:
            store.close()
    opens = posted + dt.timedelta(seconds=warmup_s)
    closes = opens + dt.timedelta(seconds=window_s)
    ended = [t for t in trials if t.state.is_finished() and t.datetime_complete is not None
             and t.datetime_start is not None]
    inside = [t for t in ended if opens <= t.datetime_complete <= closes]  # type: ignore[operator]
    durations = sorted((t.datetime_complete - t.datetime_start).total_seconds()  # type: ignore[operator]
                       for t in inside)
    devices = sorted({str(t.user_attrs.get("device")) for t in ended})
    return {
        "model": model, "per_gpu": per_gpu, "window_s": window_s, "warmup_s": warmup_s,
        "trials_in_window": len(inside), "trials_ended": len(ended),
        "trials_per_hour": len(inside) / window_s * 3600,
        "trial_s_median": durations[len(durations) // 2] if durations else float("nan"),
        "devices": devices, "gpu_load": load,
    }


def section(results: list[dict[str, Any]], *, command: str, facts: str) -> str:
    lines = [
        SECTION_TITLE, "",
        "Finished trials per hour on one GPU with 1, 2 and 4 worker processes sharing it "
        "(`rnntune worker --gpus 0 --per-gpu N`, the API in its own `rnntune serve "
        "--workers 0`, SQLite). Every trial does the same work; the trials that end in a "
        f"window opened {results[0]['warmup_s']:g} s after the POST and "
        f"{results[0]['window_s']:g} s long are counted (CUDA start-up and first trials "
        "fall before it). The GPU's load is one `nvidia-smi` reading in the middle of the "
        "window.", "",
        f"Command: `{command}`", "", facts, "",
        "| model | per GPU | trials in window | trials/hour | vs 1 per GPU | trial median (s) "
        "| GPU load |",
        "|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for model in MODELS:
        rows = [r for r in results if r["model"] == model]
        if not rows:
            continue
        base = next((r["trials_per_hour"] for r in rows if r["per_gpu"] == 1), float("nan"))
        for r in rows:
            ratio = r["trials_per_hour"] / base if base else float("nan")
            lines.append(
                f"| {MODELS[model]['label']} | {r['per_gpu']} | {r['trials_in_window']} | "
                f"{r['trials_per_hour']:.0f} | {ratio:.2f}x | {r['trial_s_median']:.2f} | "
                f"{r['gpu_load'] or '-'} |")
            if r["per_gpu"] == 4:
                met = "met" if ratio >= TARGET else "**missed**"
                verdicts.append(f"{model}: {ratio:.2f}x at 4 per GPU against 1 "
                                f"(target {TARGET}x: {met})")
    lines += ["", "Against the target: " + "; ".join(verdicts) + "." if verdicts else ""]
    return "\n".join(lines).rstrip() + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_share", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-gpu", default="1,2,4", help="comma-separated (default 1,2,4)")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--cpu", action="store_true",
                        help="workers on the CPU (--workers N --device cpu): a smoke test")
    parser.add_argument("--quick", action="store_true",
                        help="tiny models, 3 s warm-up, 6 s window")
    parser.add_argument("--save", type=Path, help="write the results as JSON here")
    parser.add_argument("--load", type=Path, help="results saved by --save; no measuring")
    parser.add_argument("--write-doc", action="store_true")
    parser.add_argument("--doc", type=Path, default=DOC_PATH)
    args = parser.parse_args(argv)
    if args.quick:
        args.warmup, args.window = 3.0, 6.0
    unknown = set(args.models.split(",")) - set(MODELS)
    if unknown:
        parser.error(f"unknown model(s) {sorted(unknown)}; known: {', '.join(MODELS)}")
    return args


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    command = "python -m bench.gpu_share " + shlex.join(list(sys.argv[1:] if argv is None
                                                             else argv))
    if args.load:
        saved = json.loads(args.load.read_text())
        results, facts, command = saved["results"], saved["facts"], saved["command"]
    else:
        facts = machine_facts()
        results = []
        for model in args.models.split(","):
            for per_gpu in (int(n) for n in args.per_gpu.split(",")):
                result = measure(model, per_gpu, cpu=args.cpu, quick=args.quick,
                                 warmup_s=args.warmup, window_s=args.window)
                print(json.dumps(result), flush=True)
                results.append(result)
                if args.save:
                    args.save.write_text(json.dumps(
                        {"results": results, "facts": facts, "command": command.strip()},
                        indent=1))
    text = section(results, command=command.strip(), facts=facts)
    print(text)
    if args.write_doc:
        write_section(SECTION_TITLE, text, args.doc)
    return results


if __name__ == "__main__":
    main()
