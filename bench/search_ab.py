"""Two versions of rnntune's default search, run by ``bench.search_efficiency --setups default``
into two ``--results`` folders on the same machine, compared target by target.

For each task and target of the ladder: the median epochs each version spent to reach it (and
in how many seeds), and the median over seeds of before / after (above 1: the change needs
fewer epochs), then each version's epochs seed by seed. A seed where a version never reached
the target counts with its whole run, as a bound, exactly as in ``bench.search_efficiency``.

    python -m bench.search_ab --before bench/results/X/before --after bench/results/X/after
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import _search_report as report
from bench._anytime import RunRecord
from bench.search_efficiency import TASKS, runs_in


def compare(before: list[RunRecord], after: list[RunRecord],
            targets: tuple[float, ...]) -> list[str]:
    """Markdown rows: target, before's and after's median epochs (seeds reached), and the
    median of the per-seed before / after ratios."""
    pairs = [(b, a) for b in before for a in after if a.seed == b.seed]
    runs = {"default": [a for _, a in pairs], "before": [b for b, _ in pairs]}
    rows = []
    for target in report.ladder(runs, targets):
        cells = []
        for side in ("before", "default"):
            reached = [report.reach(r, target, 0) for r in runs[side]]
            hits = sum(r.to_reach(target) is not None for r in runs[side])
            cells.append(f"{report.median_of(reached).text()} ep ({hits}/{len(pairs)})")
        rows.append(f"| {target:g} | {cells[0]} | {cells[1]} | "
                    f"{report.median_ratio(runs, 'before', target).text(1)}x |")
    return rows


def per_seed(before: list[RunRecord], after: list[RunRecord],
             targets: tuple[float, ...]) -> list[str]:
    """Markdown rows: target, then each version's epochs to it seed by seed (>=: not reached,
    the whole run's epochs)."""
    pairs = [(b, a) for b in before for a in after if a.seed == b.seed]
    runs = {"default": [a for _, a in pairs], "before": [b for b, _ in pairs]}
    rows = []
    for target in report.ladder(runs, targets):
        cells = [", ".join(report.reach(r, target, 0).text() for r in runs[side])
                 for side in ("before", "default")]
        rows.append(f"| {target:g} | {cells[0]} | {cells[1]} |")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.search_ab",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, required=True)
    args = parser.parse_args(argv)
    for name, task in TASKS.items():
        before = runs_in(args.before / name / "default")
        after = runs_in(args.after / name / "default")
        if not before or not after:
            continue
        print(f"\n{name} ({task.metric}), seeds {[r.seed for r in after]}:")
        print("| target | before: median epochs (seeds reached) | after | before / after |")
        print("|---:|---:|---:|---:|")
        print("\n".join(compare(before, after, task.targets)))
        print("\n| target | before: epochs per seed | after |")
        print("|---:|---|---|")
        print("\n".join(per_seed(before, after, task.targets)))


if __name__ == "__main__":
    main()
