"""The commands that drive a running server through its REST API (``--url``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from service.cli._format import (
    dataset_line,
    evaluation_lines,
    num,
    print_json,
    search_trials,
    short,
    study_line,
    trial_line,
)
from service.client import Client
from service.errors import InvalidRequestError
from service.schemas import StudyPublic

__all__ = [
    "cmd_best",
    "cmd_cancel",
    "cmd_datasets",
    "cmd_delete",
    "cmd_enqueue",
    "cmd_export",
    "cmd_importance",
    "cmd_predict",
    "cmd_report",
    "cmd_spaces",
    "cmd_status",
    "cmd_submit",
    "cmd_sweep",
    "cmd_tasks",
    "cmd_trials",
    "cmd_watch",
]


def _client(args: argparse.Namespace) -> Client:
    return Client(args.url, api_key=args.api_key)


def _watch(
    client: Client, study_id: int, *, poll_s: float, evaluation: bool = False
) -> StudyPublic:
    study = client.study(study_id)
    bar = tqdm(total=search_trials(study), desc=f"study {study_id}", unit="trial",
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


def cmd_submit(args: argparse.Namespace) -> int:
    spec = _read_spec(args.spec)
    with _client(args) as client:
        study = client.submit(spec)
        print(f"submitted study {study.id} ({study.name})", file=sys.stderr)
        if args.wait or args.evaluated:
            study = _watch(client, study.id, poll_s=args.poll, evaluation=args.evaluated)
        if args.json:
            print_json(study.model_dump(mode="json"))
        else:
            print(study_line(study))
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    with _client(args) as client:
        study = _watch(client, args.study_id, poll_s=args.poll, evaluation=args.evaluated)
        print(study_line(study))
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


def cmd_sweep(args: argparse.Namespace) -> int:
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
        print_json(sweep.model_copy(update={"studies": studies}).model_dump(mode="json"))
    else:
        for study in studies:
            print(study_line(study))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        studies = ([client.study(args.study_id)] if args.study_id
                   else client.studies(tag=args.tag))
    if args.json:
        print_json([s.model_dump(mode="json") for s in studies])
    elif not studies:
        print(f"no studies tagged {args.tag!r}" if args.tag else "no studies yet")
    else:
        for study in studies:
            print(study_line(study))
        if args.study_id:
            for line in evaluation_lines(studies[0]):
                print(f"      {line}")
    return 0


def cmd_trials(args: argparse.Namespace) -> int:
    with _client(args) as client:
        trials = client.all_trials(args.study_id, state=args.state)
    if args.json:
        print_json([t.model_dump(mode="json") for t in trials])
    else:
        for trial in trials:
            print(trial_line(trial))
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    with _client(args) as client:
        study = client.study(args.study_id)
        if study.pareto_front:
            if args.json:
                print_json([p.model_dump(mode="json") for p in study.pareto_front])
                return 0
            print(f"Pareto front ({', '.join(study.objectives)}):")
            for point in study.pareto_front:
                values = " ".join(f"{v:.6g}" for v in point.values)
                params = " ".join(f"{k}={short(v)}" for k, v in point.params.items())
                print(f"  #{point.number:<4} {values}  {params}")
            return 0
        trial = client.best(args.study_id)
    if args.json:
        print_json(trial.model_dump(mode="json"))
        return 0
    print(trial_line(trial))
    for line in evaluation_lines(study):
        print(line)
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.action == "list":
            datasets = client.datasets()
            if args.json:
                print_json([d.model_dump(mode="json") for d in datasets])
            for dataset in [] if args.json else datasets:
                print(dataset_line(dataset))
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
        print_json(dataset.model_dump(mode="json"))
    else:
        print(dataset_line(dataset))
    return 0


def cmd_importance(args: argparse.Namespace) -> int:
    with _client(args) as client:
        result = client.importance(args.study_id)
    if args.json:
        print_json(result.model_dump(mode="json"))
        return 0
    print(f"{result.evaluator} over {result.n_trials} completed trials")
    for name, value in sorted(result.importances.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<16} {value:6.3f}  {'#' * round(40 * value)}")
    if result.note:
        print(f"note: {result.note}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    with _client(args) as client:
        page = client.report(args.study_id)
    Path(args.output).write_text(page, encoding="utf-8")
    print(f"wrote {args.output} ({len(page) // 1024} KiB); open it in a browser")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    torchscript = args.torchscript or str(args.output).endswith((".ts", ".torchscript"))
    with _client(args) as client:
        content = client.download_model(args.study_id, args.output, torchscript=torchscript)
    kind = "TorchScript (torch.jit.load)" if torchscript else "service.load_model"
    print(f"wrote {args.output} ({len(content) // 1024 + 1} KiB); load it with {kind}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    with _client(args) as client:
        result = client.predict(args.study_id, args.input, format=args.format)
    if args.json:
        print_json(result.model_dump(mode="json", exclude_none=True))
        return 0
    rows: list[int | None] = [*result.for_rows] if result.for_rows else [None] * result.n
    for index, (row, value) in enumerate(zip(rows, result.predictions, strict=True)):
        shown = " ".join(num(v) for v in value) if isinstance(value, list) else str(value)
        where = f"row {row}" if row is not None else str(index)
        print(f"{where}\t{shown}")
    return 0


def cmd_enqueue(args: argparse.Namespace) -> int:
    trials = [json.loads(text) for text in args.params]
    with _client(args) as client:
        result = client.enqueue(args.study_id, trials=trials, from_study=args.from_study,
                                top_k=args.top_k, best_practice=args.best_practice)
    if args.json:
        print_json(result.model_dump(mode="json"))
        return 0
    for trial in result.enqueued:
        params = " ".join(f"{k}={short(v)}" for k, v in trial.params.items())
        print(f"queued ({trial.source}): {params}")
        for note in trial.notes:
            print(f"  note: {note}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        print(study_line(client.cancel(args.study_id)))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with _client(args) as client:
        client.delete(args.study_id)
    print(f"deleted study {args.study_id}")
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    with _client(args) as client:
        for task in client.tasks():
            print(f"{task.name:<12} {task.kind:<14} metrics: {', '.join(task.metrics)}")
    return 0


def cmd_spaces(args: argparse.Namespace) -> int:
    with _client(args) as client:
        for space in client.search_spaces():
            print(f"{space.name:<12} {', '.join(space.params)}")
    return 0
