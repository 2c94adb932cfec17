"""``rnntune``: serve the API with local workers, run workers, and drive studies."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from service.client import DEFAULT_URL, Client
from service.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    RnntuneError,
    SpecError,
)
from service.schemas import DatasetPublic, StudyPublic, TrialPublic

__all__ = ["main"]


def _settings(args: argparse.Namespace) -> Any:
    from service.config import Settings

    overrides: dict[str, Any] = {}
    for key in ("database_url", "host", "port", "workers", "device"):
        value = getattr(args, key, None)
        if value is not None:
            overrides[key] = value
    return Settings(**overrides)


def _configure_logging(level: str) -> None:
    from service.api._request_id import RequestIdFilter

    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdFilter())


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.api import create_app
    from service.store import StudyStore
    from service.worker import Supervisor

    settings = _settings(args)
    _configure_logging(settings.log_level)
    from service.api._auth import InsecureStartError, prepare_keys

    store = StudyStore(settings)
    store.initialize()  # create the tables once, before the workers race to
    try:
        prepare_keys(settings, store.keys)
    except InsecureStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    supervisor = Supervisor(settings, count=settings.workers)
    supervisor.start()
    print(f"rnntune: API and dashboard on http://{settings.host}:{settings.port} "
          f"({settings.workers} local workers, database {settings.database_url})",
          file=sys.stderr)
    try:
        app = create_app(settings, workers=supervisor)
        _freeze_startup_objects()
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    finally:
        supervisor.stop()
    return 0


def _freeze_startup_objects() -> None:
    """Keep what the server loaded at start (torch, Optuna, SQLAlchemy, the app: ~270,000
    objects) out of the garbage collector's full passes, which otherwise stall every request
    in flight for about 100 ms each time one runs."""
    gc.collect()
    gc.freeze()


def _cmd_worker(args: argparse.Namespace) -> int:
    import signal
    import threading

    from service.store import StudyStore
    from service.worker import Supervisor

    settings = _settings(args)
    _configure_logging(settings.log_level)
    if args.gpus is not None:
        placements = _gpu_placements(args.gpus, args.per_gpu)
        supervisor = Supervisor(settings, placements=placements)
        count = len(placements)
    else:
        count = args.workers or settings.workers or 1
        supervisor = Supervisor(settings, count=count)
    store = StudyStore(settings)
    store.initialize()
    store.close()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    supervisor.start()
    print(f"rnntune: {count} workers on {settings.database_url}", file=sys.stderr)
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    supervisor.stop()
    return 0


def _gpu_placements(spec: str, per_gpu: int) -> Any:
    import torch

    from service.worker import gpu_placements

    try:
        gpus = [int(part) for part in spec.split(",") if part.strip()]
        placements = gpu_placements(gpus, per_gpu)
    except ValueError as exc:
        raise InvalidRequestError(f"--gpus {spec!r} --per-gpu {per_gpu}: {exc}") from None
    available = torch.cuda.device_count()
    missing = [g for g in gpus if g >= available]
    if missing:
        raise InvalidRequestError(
            f"GPU(s) {missing} not present: this machine has {available} CUDA device(s)"
        )
    return placements


def _cmd_db(args: argparse.Namespace) -> int:
    from service.store import StudyStore
    from service.store._migrate import current_revision, head_revision

    settings = _settings(args)
    store = StudyStore(settings)
    try:
        if args.action == "upgrade":
            store.initialize()
        revision = current_revision(store.engine)
    finally:
        store.close()
    print(f"database {settings.database_url}: revision {revision or 'none'} "
          f"(newest {head_revision()})")
    return 0


def _client(args: argparse.Namespace) -> Client:
    return Client(args.url, api_key=args.api_key)


def _cmd_keys(args: argparse.Namespace) -> int:
    from service.store import StudyStore

    store = StudyStore(_settings(args))
    try:
        store.initialize()
        if args.action == "create":
            key, token = store.keys.create(name=args.name, scope=args.scope)
            print(f"created key {key.id} ({key.name}, scope {key.scope}); it is shown only "
                  "once:", file=sys.stderr)
            print(token)
        elif args.action == "list":
            for key in store.keys.list():
                state = "revoked" if key.revoked_at else "active"
                print(f"{key.id:>4}  {key.name:<20} {key.scope:<7} {key.prefix}...  "
                      f"{key.created_at:%Y-%m-%d %H:%M}  {state}")
        else:
            if args.key_id is None:
                raise InvalidRequestError("revoke needs the key id: rnntune keys revoke ID")
            key = store.keys.revoke(args.key_id)
            print(f"revoked key {key.id} ({key.name})")
    finally:
        store.close()
    return 0


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _study_line(study: StudyPublic) -> str:
    counts = study.trials
    best = "-" if study.best is None else f"{study.best.value:.6g}"
    baseline = ""
    if study.baseline is not None and study.baseline.value is not None:
        baseline = f" (baseline {study.baseline.value:.4g})"
    return (f"{study.id:>4}  {study.name:<28} {study.status:<10} "
            f"{counts.finished:>3}/{_search_trials(study):<4} complete={counts.complete} "
            f"pruned={counts.pruned} fail={counts.fail} running={counts.running}  "
            f"best {study.objective.metric}={best}{baseline}{_evaluation_brief(study)}")


def _search_trials(study: StudyPublic) -> int:
    """What the search runs: the budget less the selection step's re-runs."""
    return study.search_trials or study.budget.n_trials


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _evaluation_brief(study: StudyPublic) -> str:
    evaluation = study.evaluation
    if evaluation is None:
        return ""
    if evaluation.status != "done" or evaluation.seeds is None:
        return f"  eval {evaluation.status}"
    metric = study.objective.metric.removeprefix("val_")
    test = (evaluation.test or {}).get(metric)
    seeds = evaluation.seeds
    ensemble = ("" if evaluation.ensemble is None
                else f" ensemble {_num(evaluation.ensemble.test.get(metric))}")
    return (f"  test {metric}={_num(test)} seeds {_num(seeds.mean)}\u00b1{_num(seeds.std)} "
            f"(n={len(seeds.seeds)}){ensemble}")


def _evaluation_lines(study: StudyPublic) -> list[str]:
    """The best value, the final evaluation and every baseline, one per line."""
    metric = study.objective.metric.removeprefix("val_")
    lines = [f"validation best val_{metric}: "
             f"{_num(None if study.best is None else study.best.value)}"
             + ("" if study.best is None else f" (trial {study.best.number})")]
    evaluation = study.evaluation
    if evaluation is None:
        lines.append("test evaluation: none (the study did not complete)")
    elif evaluation.status != "done":
        message = f": {evaluation.message}" if evaluation.message else ""
        lines.append(f"test evaluation: {evaluation.status}{message}")
    else:
        test = evaluation.test or {}
        lines.append("test (study seed): " + " ".join(f"{k}={_num(v)}" for k, v in test.items()))
        if evaluation.seeds is not None:
            seeds = evaluation.seeds
            values = ", ".join(_num(v) for v in seeds.values)
            lines.append(f"test_{metric} over seeds {seeds.seeds}: mean {_num(seeds.mean)} "
                         f"std {_num(seeds.std)} [{values}]")
            others = [f"{name} {_num(spread.mean)}\u00b1{_num(spread.std)}"
                      for name, spread in seeds.metrics.items() if name not in (metric, "loss")]
            if others:
                lines.append("other test metrics over seeds: " + ", ".join(others))
        if evaluation.ensemble is not None:
            ensemble = evaluation.ensemble
            lines.append(f"test (ensemble of seeds {ensemble.seeds}, the model served): "
                         + " ".join(f"{k}={_num(v)}" for k, v in ensemble.test.items()))
        lines.extend(_selection_lines(study))
        if evaluation.verdict:
            lines.append(f"verdict: {evaluation.verdict}")
    shown = (study.evaluation.baselines if study.evaluation and study.evaluation.baselines
             else study.baselines or ([study.baseline] if study.baseline else []))
    # Fitted baselines carry every metric; the objective's (and accuracy) are the ones to read.
    wanted = {metric, "accuracy"}
    for baseline in [b for b in shown if b.metric.removeprefix("val_") in wanted]:
        lines.append(f"baseline {baseline.name} {baseline.metric.removeprefix('val_')}: val "
                     f"{_num(baseline.value)}, test {_num(baseline.test_value)}  "
                     f"({baseline.description})")
    return lines


def _selection_lines(study: StudyPublic) -> list[str]:
    """The top trials' validation values per seed and why the winner won."""
    selection = study.evaluation.selection if study.evaluation else None
    if selection is None:
        return []
    lines = [f"selection over seeds {selection.seeds} ({selection.runs} re-runs in the budget):"]
    for candidate in selection.candidates:
        mark = "*" if candidate.trial == selection.winner else " "
        values = ", ".join(_num(v) for v in candidate.values)
        lines.append(f" {mark} trial {candidate.trial}: {selection.metric} mean "
                     f"{_num(candidate.mean)} std {_num(candidate.std)} [{values}]")
    lines.append(f"chosen: {selection.reason}")
    return lines


def _watch(
    client: Client, study_id: int, *, poll_s: float, evaluation: bool = False
) -> StudyPublic:
    study = client.study(study_id)
    bar = tqdm(total=_search_trials(study), desc=f"study {study_id}", unit="trial",
               file=sys.stderr, dynamic_ncols=True)

    def show(current: StudyPublic) -> None:
        counts = current.trials
        bar.n = counts.finished
        best = "-" if current.best is None else f"{current.best.value:.4g}"
        evaluating = "" if current.evaluation is None or current.evaluation.status == "done" \
            else f" eval={current.evaluation.status}"
        bar.set_postfix_str(
            f"complete={counts.complete} pruned={counts.pruned} fail={counts.fail} "
            f"running={counts.running} best={best}{evaluating}"
        )
        bar.refresh()

    try:
        final = client.wait(study_id, poll_s=poll_s, on_progress=show, evaluation=evaluation)
    finally:
        bar.close()
    return final


def _read_spec(source: str) -> str | Path:
    """A spec file's path, or the text of standard input for ``-`` (as ``kubectl apply -f -``)."""
    if source == "-":
        text = sys.stdin.read()
        if not text.strip():
            raise InvalidRequestError("standard input is empty; pipe a YAML or JSON spec in")
        return text
    path = Path(source)
    if not path.is_file():
        raise InvalidRequestError(f"no such spec file: {path}")
    return path


def _cmd_submit(args: argparse.Namespace) -> int:
    spec = _read_spec(args.spec)
    with _client(args) as client:
        study = client.submit(spec)
        print(f"submitted study {study.id} ({study.name})", file=sys.stderr)
        if args.wait or args.evaluated:
            study = _watch(client, study.id, poll_s=args.poll, evaluation=args.evaluated)
        if args.json:
            _print_json(study.model_dump(mode="json"))
        else:
            print(_study_line(study))
    return 0


def _cmd_watch(args: argparse.Namespace) -> int:
    with _client(args) as client:
        study = _watch(client, args.study_id, poll_s=args.poll, evaluation=args.evaluated)
        print(_study_line(study))
    return 0


def _over(items: list[str]) -> dict[str, list[Any]]:
    """``--over seed=0,1,2`` to ``{"seed": [0, 1, 2]}``; each value read as YAML (numbers,
    true/false, text)."""
    import yaml

    over: dict[str, list[Any]] = {}
    for item in items:
        path, sep, values = item.partition("=")
        if not sep or not path.strip() or not values.strip():
            raise InvalidRequestError(
                f"--over {item!r}: write FIELD=V1,V2,..., e.g. seed=0,1,2 or task.dataset=3,4"
            )
        try:
            over[path.strip()] = [yaml.safe_load(v.strip()) for v in values.split(",")]
        except yaml.YAMLError as exc:
            raise InvalidRequestError(f"--over {item!r}: {exc}") from None
    return over


def _cmd_sweep(args: argparse.Namespace) -> int:
    template = _read_spec(args.template)
    if not args.over:
        raise InvalidRequestError("a sweep needs --over FIELD=V1,V2,... (e.g. seed=0,1,2)")
    with _client(args) as client:
        sweep = client.sweep(template, name=args.name, over=_over(args.over), tags=args.tag)
        print(f"submitted sweep {sweep.name}: {len(sweep.studies)} studies tagged "
              f"{sweep.tag!r}", file=sys.stderr)
        studies = sweep.studies
        if args.wait:
            studies = [_watch(client, s.id, poll_s=args.poll) for s in studies]
    if args.json:
        _print_json(sweep.model_copy(update={"studies": studies}).model_dump(mode="json"))
    else:
        for study in studies:
            print(_study_line(study))
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        studies = ([client.study(args.study_id)] if args.study_id
                   else client.studies(tag=args.tag))
    if args.json:
        _print_json([s.model_dump(mode="json") for s in studies])
    elif not studies:
        print(f"no studies tagged {args.tag!r}" if args.tag else "no studies yet")
    else:
        for study in studies:
            print(_study_line(study))
        if args.study_id:
            for line in _evaluation_lines(studies[0]):
                print(f"      {line}")
    return 0


def _trial_line(trial: TrialPublic) -> str:
    value = "-" if trial.value is None else f"{trial.value:.6g}"
    last = trial.epochs[-1] if trial.epochs else None
    curve = "" if last is None else f" epochs={len(trial.epochs)}"
    reason = f" ({trial.prune_reason})" if trial.prune_reason else ""
    duration = "" if trial.duration_s is None else f" {trial.duration_s:.1f}s"
    params = " ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
    head = f"#{trial.number:<4} {trial.state:<8}{reason:<11}"
    return f"{head} value={value}{curve}{duration}  {params}"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _cmd_trials(args: argparse.Namespace) -> int:
    with _client(args) as client:
        trials = client.all_trials(args.study_id, state=args.state)
    if args.json:
        _print_json([t.model_dump(mode="json") for t in trials])
    else:
        for trial in trials:
            print(_trial_line(trial))
    return 0


def _cmd_best(args: argparse.Namespace) -> int:
    with _client(args) as client:
        study = client.study(args.study_id)
        if study.pareto_front:
            if args.json:
                _print_json([p.model_dump(mode="json") for p in study.pareto_front])
                return 0
            print(f"Pareto front ({', '.join(study.objectives)}):")
            for point in study.pareto_front:
                values = " ".join(f"{v:.6g}" for v in point.values)
                params = " ".join(f"{k}={_short(v)}" for k, v in point.params.items())
                print(f"  #{point.number:<4} {values}  {params}")
            return 0
        trial = client.best(args.study_id)
    if args.json:
        _print_json(trial.model_dump(mode="json"))
        return 0
    print(_trial_line(trial))
    for line in _evaluation_lines(study):
        print(line)
    return 0


def _dataset_line(dataset: DatasetPublic) -> str:
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


def _cmd_datasets(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.action == "list":
            datasets = client.datasets()
            if args.json:
                _print_json([d.model_dump(mode="json") for d in datasets])
            for dataset in [] if args.json else datasets:
                print(_dataset_line(dataset))
            return 0
        if args.item is None:
            what = "the file" if args.action == "upload" else "the data set id"
            raise InvalidRequestError(f"datasets {args.action} needs {what}")
        if args.action == "upload":
            path = Path(args.item)
            if not path.is_file():
                raise InvalidRequestError(f"no such file: {path}")
            dataset = client.upload_dataset(
                path, name=args.name, format=args.format, kind=args.kind, target=args.target,
                time_column=args.time_column,
            )
        elif not args.item.isdigit():
            raise InvalidRequestError(f"a data set id is a number, got {args.item!r}")
        elif args.action == "delete":
            client.delete_dataset(int(args.item))
            print(f"deleted data set {args.item}")
            return 0
        else:
            dataset = client.dataset(int(args.item))
    if args.json or args.action == "show":
        _print_json(dataset.model_dump(mode="json"))
    else:
        print(_dataset_line(dataset))
    return 0


def _cmd_importance(args: argparse.Namespace) -> int:
    with _client(args) as client:
        result = client.importance(args.study_id)
    if args.json:
        _print_json(result.model_dump(mode="json"))
        return 0
    print(f"{result.evaluator} over {result.n_trials} completed trials")
    for name, value in sorted(result.importances.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<16} {value:6.3f}  {'#' * round(40 * value)}")
    if result.note:
        print(f"note: {result.note}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    with _client(args) as client:
        page = client.report(args.study_id)
    Path(args.output).write_text(page, encoding="utf-8")
    print(f"wrote {args.output} ({len(page) // 1024} KiB); open it in a browser")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    torchscript = args.torchscript or str(args.output).endswith((".ts", ".torchscript"))
    with _client(args) as client:
        content = client.download_model(args.study_id, args.output, torchscript=torchscript)
    kind = "TorchScript (torch.jit.load)" if torchscript else "service.load_model"
    print(f"wrote {args.output} ({len(content) // 1024 + 1} KiB); load it with {kind}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    with _client(args) as client:
        result = client.predict(args.study_id, args.input, format=args.format)
    if args.json:
        _print_json(result.model_dump(mode="json", exclude_none=True))
        return 0
    rows: list[int | None] = [*result.for_rows] if result.for_rows else [None] * result.n
    for index, (row, value) in enumerate(zip(rows, result.predictions, strict=True)):
        shown = " ".join(_num(v) for v in value) if isinstance(value, list) else str(value)
        where = f"row {row}" if row is not None else str(index)
        print(f"{where}\t{shown}")
    return 0


def _cmd_enqueue(args: argparse.Namespace) -> int:
    trials = [json.loads(text) for text in args.params]
    with _client(args) as client:
        result = client.enqueue(args.study_id, trials=trials, from_study=args.from_study,
                                top_k=args.top_k, best_practice=args.best_practice)
    if args.json:
        _print_json(result.model_dump(mode="json"))
        return 0
    for trial in result.enqueued:
        params = " ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
        print(f"queued ({trial.source}): {params}")
        for note in trial.notes:
            print(f"  note: {note}")
    return 0


def _cmd_cancel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        print(_study_line(client.cancel(args.study_id)))
    return 0


def _cmd_delete(args: argparse.Namespace) -> int:
    with _client(args) as client:
        client.delete(args.study_id)
    print(f"deleted study {args.study_id}")
    return 0


def _cmd_tasks(args: argparse.Namespace) -> int:
    with _client(args) as client:
        for task in client.tasks():
            print(f"{task.name:<12} {task.kind:<14} metrics: {', '.join(task.metrics)}")
    return 0


def _cmd_spaces(args: argparse.Namespace) -> int:
    with _client(args) as client:
        for space in client.search_spaces():
            print(f"{space.name:<12} {', '.join(space.params)}")
    return 0


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
        ("serve", _cmd_serve, "run the API, the dashboard and a local worker pool"),
        ("worker", _cmd_worker, "run supervised workers against RNNTUNE_DATABASE_URL"),
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
        else:
            command.add_argument("--gpus", default=None,
                                 help="comma-separated GPU indices to pin workers to, e.g. 0,1")
            command.add_argument("--per-gpu", type=int, default=1,
                                 help="worker processes per GPU (with --gpus)")

    db = add("db", _cmd_db, "create or upgrade the database tables, or show their revision",
             remote=False)
    db.add_argument("action", choices=["upgrade", "current"])
    db.add_argument("--database-url", dest="database_url", default=None)

    keys = add("keys", _cmd_keys, "create, list or revoke API keys (on the database)",
               remote=False)
    keys.add_argument("action", choices=["create", "list", "revoke"])
    keys.add_argument("key_id", type=int, nargs="?", help="the key to revoke")
    keys.add_argument("--name", default="key", help="who or what the key is for")
    keys.add_argument("--scope", choices=["read", "submit", "admin"], default="submit")
    keys.add_argument("--database-url", dest="database_url", default=None)

    submit = add("submit", _cmd_submit, "submit a study spec (YAML or JSON file, - for stdin)")
    submit.add_argument("spec", help="the spec file, or - to read it from standard input")
    submit.add_argument("--wait", action="store_true", help="watch until the study ends")
    submit.add_argument("--poll", type=float, default=1.0)
    watch = add("watch", _cmd_watch, "show a live progress bar of a study", study=True)
    watch.add_argument("--poll", type=float, default=1.0)
    for command in (submit, watch):
        command.add_argument("--evaluated", action="store_true",
                             help="also wait for the final evaluation on the test split")
    sweep = add("sweep", _cmd_sweep,
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
    status = add("status", _cmd_status, "list studies, or show one")
    status.add_argument("study_id", type=int, nargs="?")
    status.add_argument("--tag", default=None, help="only studies with this tag")
    trials = add("trials", _cmd_trials, "list a study's trials", study=True)
    trials.add_argument("--state", choices=["running", "waiting", "complete", "pruned", "fail"])
    add("best", _cmd_best, "show the best trial of a study", study=True)
    add("importance", _cmd_importance, "hyperparameter importance of a study", study=True)
    report = add("report", _cmd_report, "write a study's HTML report", study=True)
    report.add_argument("-o", "--output", default="report.html")
    enqueue = add("enqueue", _cmd_enqueue, "run known configurations of a study first",
                  study=True)
    enqueue.add_argument("--params", action="append", default=[], metavar="JSON",
                         help='a configuration, e.g. \'{"cell": "gru", "lr": 0.003}\'')
    enqueue.add_argument("--from-study", type=int, default=None,
                         help="take the best trials of this earlier study")
    enqueue.add_argument("--top-k", type=int, default=3)
    enqueue.add_argument("--best-practice", action="store_true",
                         help="well-known good defaults for each cell the space allows")
    export = add("export", _cmd_export, "download a study's best model file", study=True)
    export.add_argument("-o", "--output", default="model.pt",
                        help="model.pt: service.load_model(path); model.ts: TorchScript")
    export.add_argument("--torchscript", action="store_true",
                        help="TorchScript with the preprocessing built in (also for *.ts)")
    predict = add("predict", _cmd_predict, "run a study's best model on new data", study=True)
    predict.add_argument("--input", required=True,
                         help="NPZ with X (and lengths), or CSV rows of a forecast series")
    predict.add_argument("--format", choices=["npz", "csv"], default=None,
                         help="default: from the file name")
    add("cancel", _cmd_cancel, "stop handing out new trials of a study", study=True)
    add("delete", _cmd_delete, "delete a study and its trials", study=True)
    add("tasks", _cmd_tasks, "list the built-in tasks")
    add("spaces", _cmd_spaces, "list the named search spaces")
    datasets = add("datasets", _cmd_datasets, "upload, list, show or delete data sets")
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


if __name__ == "__main__":
    sys.exit(main())
