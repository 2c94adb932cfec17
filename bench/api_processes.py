"""One API process against several: the load of ``load_api.py`` on ``rnntune serve``.

For each repeat, and for each count of API processes (the order alternates between repeats,
so a drift in the machine's load does not favour one), this starts ``rnntune serve --workers 0
--api-processes N`` on a fresh SQLite database, runs CLIENTS concurrent clients of ROUNDS
rounds each (submit, read, read trials, list, cancel), and keeps requests/s, p50 and p99 over
all requests, and errors. Ratios to one process are taken within each repeat.

    python -m bench.api_processes --processes 1 2 --clients 50 --rounds 6 --repeats 3 --write-doc
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any

from bench._benchmarks_doc import DOC_PATH, write_section
from bench._machine import machine_facts as common_machine_facts
from bench.load_api import measure, percentile

SECTION_TITLE = "## API server processes"


def run(processes: list[int], *, clients: int, rounds: int, repeats: int
        ) -> dict[int, list[dict[str, Any]]]:
    """Every run's figures by process count."""
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in processes}
    for repeat in range(repeats):
        order = processes if repeat % 2 == 0 else list(reversed(processes))
        for n in order:
            result = measure(clients, rounds, processes=n)
            every = [ms for values in result["all_latencies"] for ms in values]
            figures = {"rps": result["rps"], "p50": percentile(every, 0.5),
                       "p99": percentile(every, 0.99), "errors": len(result["errors"]),
                       "lost": result["lost"], "duplicated": result["duplicated"]}
            print(f"repeat {repeat + 1}, {n} process(es): {figures}", flush=True)
            runs[n].append(figures)
    return runs


def table(runs: dict[int, list[dict[str, Any]]]) -> str:
    base = min(runs)
    lines = [
        "| API processes | requests/s | p50 ms | p99 ms | requests/s vs 1 (per repeat) "
        "| p99 vs 1 (per repeat) | errors | lost / duplicated studies |",
        "|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    for n, figures in sorted(runs.items()):
        def median(key: str, figures: list[dict[str, Any]] = figures) -> float:
            return statistics.median(f[key] for f in figures)

        rps_ratio = ", ".join(f"{f['rps'] / b['rps']:.2f}x"
                              for f, b in zip(figures, runs[base], strict=True))
        p99_ratio = ", ".join(f"{f['p99'] / b['p99']:.2f}x"
                              for f, b in zip(figures, runs[base], strict=True))
        lines.append(
            f"| {n} | {median('rps'):.0f} | {median('p50'):.0f} | {median('p99'):.0f} "
            f"| {rps_ratio} | {p99_ratio} | {sum(f['errors'] for f in figures)} "
            f"| {sum(f['lost'] for f in figures)} / {sum(f['duplicated'] for f in figures)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[int, list[dict[str, Any]]]:
    parser = argparse.ArgumentParser(prog="python -m bench.api_processes", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args(argv)
    runs = run(sorted(set(args.processes)), clients=args.clients, rounds=args.rounds,
               repeats=args.repeats)
    body = table(runs)
    print(body)
    if args.write_doc:
        command = "python -m bench.api_processes " + " ".join(argv or sys.argv[1:])
        facts = common_machine_facts(beside="SQLite (the embedded default), API only "
                                     "(`--workers 0`), loopback")
        write_section(SECTION_TITLE, "\n".join([
            SECTION_TITLE, "", "```", command, "```", "",
            f"{facts}.", "",
            f"{args.clients} concurrent clients, {args.rounds} rounds each of submit, read, "
            "read trials, list and cancel, against `rnntune serve --workers 0 "
            "--api-processes N`; medians over the repeats, ratios to the fewest processes "
            "within each repeat (the order alternates).", "", body, "",
        ]), DOC_PATH)
    return runs


if __name__ == "__main__":
    main()
