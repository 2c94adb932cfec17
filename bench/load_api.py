"""Bounded load on the REST API over loopback: many concurrent clients submit, read and cancel.

Starts `rnntune serve --workers 0` on a fresh database, runs CLIENTS concurrent clients that
each do ROUNDS rounds of (submit a study, read it, read its trials, list studies, cancel it),
then checks that every submitted study exists exactly once and is cancelled. Prints a markdown
table; `--write-doc` puts it in docs/benchmarks.md.

    python -m bench.load_api --clients 50 --rounds 10 --write-doc
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench._http import HttpError, RawConnection

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## API under concurrent load"

SPEC: dict[str, Any] = {
    "task": {"name": "adding", "seq_len": 8, "n_train": 64, "n_val": 32, "n_test": 32},
    "search_space": {"params": {"cell": "gru", "hidden_size": 4, "lr": 0.01}},
    "sampler": {"name": "random", "seed": 0},
    "pruner": {"name": "none"},
    "budget": {"n_trials": 2, "max_epochs": 1},
}


@dataclass
class Tally:
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def timed(tally: Tally, label: str, request: Awaitable[tuple[int, bytes]],
                expected: int) -> bytes | None:
    started = time.perf_counter()
    try:
        status, body = await request
    except HttpError as exc:
        tally.errors.append(f"{label}: {exc}")
        return None
    tally.latencies_ms[label].append((time.perf_counter() - started) * 1000)
    if status != expected:
        tally.errors.append(f"{label}: HTTP {status} {body[:200]!r}")
        return None
    return body


async def client_rounds(connection: RawConnection, tally: Tally, rounds: int) -> None:
    for _ in range(rounds):
        name = f"load-{uuid.uuid4().hex[:12]}"
        created = await timed(tally, "POST /v1/studies", connection.request(
            "POST", "/v1/studies", json_body={**SPEC, "name": name}), 201)
        if created is None:
            continue
        tally.submitted.append(name)
        study_id = json.loads(created)["id"]
        await timed(tally, "GET /v1/studies/{id}",
                    connection.request("GET", f"/v1/studies/{study_id}"), 200)
        await timed(tally, "GET /v1/studies/{id}/trials",
                    connection.request("GET", f"/v1/studies/{study_id}/trials"), 200)
        await timed(tally, "GET /v1/studies?status=cancelled",
                    connection.request("GET", "/v1/studies", params={"status": "cancelled"}),
                    200)
        await timed(tally, "POST /v1/studies/{id}/cancel",
                    connection.request("POST", f"/v1/studies/{study_id}/cancel"), 200)


async def run_load(url: str, clients: int, rounds: int) -> tuple[Tally, float]:
    """Each client keeps its own connection (a browser or script reuses one); the client
    side is ``bench._http``'s, whose cost per request is small beside the server's."""
    tally = Tally()
    address = urlsplit(url)
    assert address.hostname is not None and address.port is not None
    connections = [RawConnection(address.hostname, address.port) for _ in range(clients)]
    started = time.perf_counter()
    try:
        await asyncio.gather(*(client_rounds(c, tally, rounds) for c in connections))
    finally:
        wall = time.perf_counter() - started
        for connection in connections:
            await connection.close()
    return tally, wall


def start_server(database_url: str, port: int, cwd: Path, *, processes: int = 0
                 ) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RNNTUNE_DATABASE_URL": database_url, "RNNTUNE_LOG_LEVEL": "warning",
           # Every client submits as the same (anonymous) caller; the per-key quota is
           # tested on its own, here it would only turn load into 429s.
           "RNNTUNE_MAX_ACTIVE_STUDIES_PER_KEY": "100000"}
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "0",
         "--api-processes", str(processes)],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300  # slow to import torch on a busy machine
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the server did not start")


def integrity(url: str, submitted: list[str]) -> dict[str, int]:
    studies: list[dict[str, Any]] = []
    while True:  # the list comes a page at a time
        page = httpx.get(f"{url}/v1/studies", params={"offset": len(studies), "limit": 1000},
                         timeout=120).json()
        studies.extend(page["studies"])
        if not page["studies"] or len(studies) >= page["total"]:
            break
    names = [s["name"] for s in studies]
    return {
        "submitted": len(submitted),
        "stored": len(names),
        "lost": len(set(submitted) - set(names)),
        "duplicated": len(names) - len(set(names)),
        "not_cancelled": sum(1 for s in studies if s["status"] != "cancelled"),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(clients: int, rounds: int, database_url: str | None = None, *, processes: int = 0
            ) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url_db = database_url or f"sqlite:///{Path(tmp) / 'load.db'}"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(url_db, port, Path(tmp), processes=processes)
        try:
            tally, wall = asyncio.run(run_load(url, clients, rounds))
            counts = integrity(url, tally.submitted)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
    requests = sum(len(v) for v in tally.latencies_ms.values())
    return {
        "clients": clients, "rounds": rounds, "requests": requests, "wall_s": wall,
        "rps": requests / wall if wall else 0.0, "errors": tally.errors, **counts,
        "all_latencies": list(tally.latencies_ms.values()),
        "latency": {label: (statistics.median(v), percentile(v, 0.99), max(v))
                    for label, v in sorted(tally.latencies_ms.items())},
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['clients']} clients x {result['rounds']} rounds: {result['requests']} "
        f"requests in {result['wall_s']:.1f} s ({result['rps']:.0f} requests/s); "
        f"errors {len(result['errors'])}; studies submitted {result['submitted']}, stored "
        f"{result['stored']}, lost {result['lost']}, duplicated {result['duplicated']}, "
        f"not cancelled {result['not_cancelled']}.",
        "",
        "| request | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|",
    ]
    for label, (p50, p99, top) in result["latency"].items():
        lines.append(f"| `{label}` | {p50:.0f} | {p99:.0f} | {top:.0f} |")
    return "\n".join(lines)


def write_doc(body: str, command: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    section = (
        f"{SECTION}\n\nCommand: `{command}`\n\nMachine: {os.cpu_count()} cores, "
        f"{memory:.0f} GiB, Python {platform.python_version()}, SQLite (the embedded "
        f"default), API only (`--workers 0`), loopback; "
        f"{datetime.now(UTC):%Y-%m-%d}.\n\n{body}\n"
    )
    if SECTION in text:
        start = text.index(SECTION)
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + ("" if end == -1 else text[end:])
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.load_api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--api-processes", type=int, default=0,
                        help="API processes of `rnntune serve` (0: what serve chooses)")
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.clients, args.rounds, args.database_url,
                     processes=args.api_processes)
    body = table(result)
    print(body)
    for error in result["errors"][:10]:
        print("error:", error)
    if args.write_doc:
        write_doc(body, "python -m bench.load_api " + " ".join(argv or sys.argv[1:]))
    return result


if __name__ == "__main__":
    main()
