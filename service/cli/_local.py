"""The commands that run on this machine against the database: serve, worker, db, keys."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from service.errors import InvalidRequestError
from service.logs import configure_logging

__all__ = ["cmd_db", "cmd_keys", "cmd_serve", "cmd_worker"]


def settings_from(args: argparse.Namespace) -> Any:
    from service.config import Settings

    overrides: dict[str, Any] = {}
    for key in ("database_url", "host", "port", "workers", "device", "api_processes"):
        value = getattr(args, key, None)
        if value is not None:
            overrides[key] = value
    return Settings(**overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    from service.api._request_id import RequestIdFilter
    from service.cli._serve import choose_api_processes, run_api
    from service.store import StudyStore
    from service.worker import Supervisor

    settings = settings_from(args)
    configure_logging(settings.log_level, RequestIdFilter())
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
    processes = choose_api_processes(settings)
    supervisor = Supervisor(settings, count=settings.workers)
    supervisor.start()
    print(f"rnntune: API and dashboard on http://{settings.host}:{settings.port} "
          f"({processes} API process{'es' if processes > 1 else ''}, {settings.workers} local "
          f"workers, database {settings.database_url})", file=sys.stderr)
    try:
        run_api(settings, processes=processes, workers=supervisor)
    finally:
        supervisor.stop()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import signal
    import threading

    from service.store import StudyStore
    from service.worker import Supervisor

    settings = settings_from(args)
    configure_logging(settings.log_level)
    if args.gpus is not None:
        placements = _gpu_placements(args.gpus, args.per_gpu)
        supervisor = Supervisor(settings, placements=placements)
        count = len(placements)
    else:
        count = args.workers or settings.workers or 1
        supervisor = Supervisor(settings, count=count)
    store = StudyStore(settings)
    # Through a transaction pooler Optuna's schema check could deadlock many starting
    # workers (see worker._store); the API, on a direct connection, checks it.
    store.check_optuna_schema = not settings.db_transaction_pooler
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


def cmd_db(args: argparse.Namespace) -> int:
    from service.store import StudyStore
    from service.store._migrate import current_revision, head_revision

    settings = settings_from(args)
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


def cmd_keys(args: argparse.Namespace) -> int:
    from service.store import StudyStore

    store = StudyStore(settings_from(args))
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
