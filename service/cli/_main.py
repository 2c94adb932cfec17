"""``rnntune``: serve the API with local workers, run workers, and drive studies."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from service.cli import _local, _remote
from service.client import DEFAULT_URL
from service.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    RnntuneError,
    SpecError,
)

__all__ = ["build_parser", "main"]


def _quiet_known_warnings() -> None:
    # Heartbeats, stale-trial sweeps and some pruners are marked experimental in Optuna 5;
    # we use them on purpose, and the warning on every start would only alarm users.
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnntune", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Any, help_text: str, *, remote: bool = True,
            study: bool = False) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(handler=handler)
        if remote:
            command.add_argument("--url", default=os.environ.get("RNNTUNE_API_URL", DEFAULT_URL),
                                 help="API address (env RNNTUNE_API_URL)")
            command.add_argument("--api-key", default=os.environ.get("RNNTUNE_API_KEY"),
                                 help="API key (env RNNTUNE_API_KEY)")
            command.add_argument("--json", action="store_true", help="print JSON")
        if study:
            command.add_argument("study_id", type=int)
        return command

    for name, handler, text in (
        ("serve", _local.cmd_serve, "run the API, the dashboard and a local worker pool"),
        ("worker", _local.cmd_worker, "run supervised workers against RNNTUNE_DATABASE_URL"),
    ):
        command = add(name, handler, text, remote=False)
        command.add_argument("--database-url", dest="database_url", default=None,
                             help="default: env RNNTUNE_DATABASE_URL or sqlite:///rnntune.db")
        command.add_argument("--workers", type=int, default=None,
                             help="worker processes (default: one per core)")
        command.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N")
        if name == "serve":
            command.add_argument("--host", default=None)
            command.add_argument("--port", type=int, default=None)
            command.add_argument("--api-processes", dest="api_processes", type=int,
                                 default=None,
                                 help="API server processes (default: one per core the local "
                                      "workers leave free, at least one)")
        else:
            command.add_argument("--gpus", default=None,
                                 help="comma-separated GPU indices to pin workers to, e.g. 0,1")
            command.add_argument("--per-gpu", type=int, default=1,
                                 help="worker processes per GPU (with --gpus)")

    db = add("db", _local.cmd_db, "create or upgrade the database tables, or show their revision",
             remote=False)
    db.add_argument("action", choices=["upgrade", "current"])
    db.add_argument("--database-url", dest="database_url", default=None)

    keys = add("keys", _local.cmd_keys, "create, list or revoke API keys (on the database)",
               remote=False)
    keys.add_argument("action", choices=["create", "list", "revoke"])
    keys.add_argument("key_id", type=int, nargs="?", help="the key to revoke")
    keys.add_argument("--name", default="key", help="who or what the key is for")
    keys.add_argument("--scope", choices=["read", "submit", "admin"], default="submit")
    keys.add_argument("--database-url", dest="database_url", default=None)

    submit = add("submit", _remote.cmd_submit,
                 "submit a study spec (YAML or JSON file, - for stdin)")
    submit.add_argument("spec", help="the spec file, or - to read it from standard input")
    submit.add_argument("--wait", action="store_true", help="watch until the study ends")
    submit.add_argument("--poll", type=float, default=1.0)
    watch = add("watch", _remote.cmd_watch, "show a live progress bar of a study", study=True)
    watch.add_argument("--poll", type=float, default=1.0)
    for command in (submit, watch):
        command.add_argument("--evaluated", action="store_true",
                             help="also wait for the final evaluation on the test split")
    sweep = add("sweep", _remote.cmd_sweep,
                "submit one study per value (data set, seed, ...) from one template spec")
    sweep.add_argument("template", help="a spec file without a name, or - for stdin")
    sweep.add_argument("--name", required=True,
                       help="studies are named NAME-FIELD-VALUE and tagged NAME")
    sweep.add_argument("--over", action="append", default=[], metavar="FIELD=V1,V2",
                       help="a field by its dotted path and its values, e.g. seed=0,1,2 or "
                       "task.dataset=3,4; several --over make every combination")
    sweep.add_argument("--tag", action="append", default=[], help="a further tag for each study")
    sweep.add_argument("--wait", action="store_true", help="watch each study until it ends")
    sweep.add_argument("--poll", type=float, default=1.0)
    status = add("status", _remote.cmd_status, "list studies, or show one")
    status.add_argument("study_id", type=int, nargs="?")
    status.add_argument("--tag", default=None, help="only studies with this tag")
    trials = add("trials", _remote.cmd_trials, "list a study's trials", study=True)
    trials.add_argument("--state", choices=["running", "waiting", "complete", "pruned", "fail"])
    add("best", _remote.cmd_best, "show the best trial of a study", study=True)
    add("importance", _remote.cmd_importance, "hyperparameter importance of a study", study=True)
    report = add("report", _remote.cmd_report, "write a study's HTML report", study=True)
    report.add_argument("-o", "--output", default="report.html")
    enqueue = add("enqueue", _remote.cmd_enqueue, "run known configurations of a study first",
                  study=True)
    enqueue.add_argument("--params", action="append", default=[], metavar="JSON",
                         help='a configuration, e.g. \'{"cell": "gru", "lr": 0.003}\'')
    enqueue.add_argument("--from-study", type=int, default=None,
                         help="take the best trials of this earlier study")
    enqueue.add_argument("--top-k", type=int, default=3)
    enqueue.add_argument("--best-practice", action="store_true",
                         help="well-known good defaults for each cell the space allows")
    export = add("export", _remote.cmd_export, "download a study's best model file", study=True)
    export.add_argument("-o", "--output", default="model.pt",
                        help="model.pt: service.load_model(path); model.ts: TorchScript")
    export.add_argument("--torchscript", action="store_true",
                        help="TorchScript with the preprocessing built in (also for *.ts)")
    predict = add("predict", _remote.cmd_predict, "run a study's best model on new data",
                  study=True)
    predict.add_argument("--input", required=True,
                         help="NPZ with X (and lengths), or CSV rows of a forecast series")
    predict.add_argument("--format", choices=["npz", "csv"], default=None,
                         help="default: from the file name")
    add("cancel", _remote.cmd_cancel, "stop handing out new trials of a study", study=True)
    add("delete", _remote.cmd_delete, "delete a study and its trials", study=True)
    add("tasks", _remote.cmd_tasks, "list the built-in tasks")
    add("spaces", _remote.cmd_spaces, "list the named search spaces")
    datasets = add("datasets", _remote.cmd_datasets, "upload, list, show or delete data sets")
    datasets.add_argument("action", choices=["upload", "list", "show", "delete"])
    datasets.add_argument("item", nargs="?", help="FILE to upload, or the data set ID")
    datasets.add_argument("--name", default=None, help="unique name (default: the file name)")
    datasets.add_argument("--format", choices=["npz", "csv"], default=None,
                          help="default: from the file name")
    datasets.add_argument("--kind", choices=["classification", "regression", "forecasting"],
                          default=None, help="default: from the labels' type; CSV: forecasting")
    datasets.add_argument("--target", default=None, help="CSV: the column to forecast")
    datasets.add_argument("--time-column", dest="time_column", default=None,
                          help="CSV: the time column, if any")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_known_warnings()
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except SpecError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        for loc, msg in exc.details:
            where = ".".join(str(p) for p in loc)
            print(f"  {where}: {msg}" if where else f"  {msg}", file=sys.stderr)
        return 2
    except RnntuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        # 2: the request was wrong (bad spec, unknown study, conflict); 1: the service failed.
        return 2 if isinstance(exc, InvalidRequestError | NotFoundError | ConflictError) else 1
    except KeyboardInterrupt:
        return 130
    return code
