"""Tables, verdicts and the anytime plot of ``search_efficiency.py``, from saved runs.

Figures are medians over seeds. A run that never reached a target within its budget counts
with what it spent in the whole budget, as a lower bound (">="); a ratio against such a run is
a bound too. The scripts import it as ``_search_report``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench._anytime import RunRecord

Runs = Mapping[str, Sequence[RunRecord]]  # setup -> runs, one per seed, in seed order


@dataclass(frozen=True)
class Bounded:
    """A figure that may be a bound: ``mark`` is "", ">=" or "<="; "~" when a median mixes
    lower and upper bounds."""

    value: float
    mark: str = ""

    def text(self, digits: int = 0) -> str:
        if math.isnan(self.value):
            return "-"
        return f"{self.mark}{self.value:.{digits}f}"


def median_of(items: Sequence[Bounded]) -> Bounded:
    """The median, ordering a lower bound by its value; marked when a bound is in the middle."""
    if not items:
        return Bounded(math.nan)
    ordered = sorted(items, key=lambda b: b.value)
    n = len(ordered)
    middle = ordered[(n - 1) // 2: n // 2 + 1]
    marks = {b.mark for b in middle} - {""}
    mark = "" if not marks else marks.pop() if len(marks) == 1 else "~"
    return Bounded(sum(b.value for b in middle) / len(middle), mark)


def reach(run: RunRecord, target: float, index: int) -> Bounded:
    """Epochs (index 0) or worker-seconds (1) spent to reach ``target``; the whole budget's
    as a lower bound when it was not reached."""
    found = run.to_reach(target)
    return Bounded(found[index]) if found is not None else Bounded(run.spent()[index], ">=")


def ratio(other: RunRecord, default: RunRecord, target: float, index: int) -> Bounded | None:
    """other / default compute to ``target`` for one seed; None when neither reached it."""
    mine, theirs = default.to_reach(target), other.to_reach(target)
    if mine is None and theirs is None:
        return None
    if mine is None:  # the default never got there: at most theirs / its whole run
        return Bounded(theirs[index] / max(default.spent()[index], 1e-9), "<=")  # type: ignore[index]
    if theirs is None:
        return Bounded(other.spent()[index] / max(mine[index], 1e-9), ">=")
    return Bounded(theirs[index] / max(mine[index], 1e-9))


def median_ratio(runs: Runs, other: str, target: float, index: int = 0) -> Bounded:
    pairs = zip(runs.get(other, []), runs.get("default", []), strict=False)
    found = [r for o, d in pairs if (r := ratio(o, d, target, index)) is not None]
    return median_of(found)


def ladder(runs: Runs, targets: Sequence[float]) -> list[float]:
    """The targets (from "solved" down) that at least one run of any setup reached; at least
    the first."""
    reached = [t for t in targets
               if any(r.to_reach(t) is not None for rs in runs.values() for r in rs)]
    return reached or list(targets[:1])


def verdict(figure: Bounded, goal: float) -> str:
    if math.isnan(figure.value):
        return "no ratio (neither reached it in any seed)"
    if figure.value >= goal and figure.mark in ("", ">="):
        return "met"
    if figure.value < goal and figure.mark in ("", "<="):
        return "**missed**"
    return "undecided (a bound on the wrong side)"


def best_peer(runs: Runs, peers: Sequence[str], target: float) -> tuple[str, Bounded] | None:
    """The peer that needed the least compute relative to the default (lowest median ratio
    in epochs), and that ratio."""
    found = [(peer, median_ratio(runs, peer, target)) for peer in peers if runs.get(peer)]
    found = [(p, b) for p, b in found if not math.isnan(b.value)]
    return min(found, key=lambda item: item[1].value) if found else None


def stalls(runs: Runs, targets: Sequence[float]) -> list[tuple[int, float]]:
    """(seed, target) where random search reached the target and the default did not."""
    out = []
    for default, random in zip(runs.get("default", []), runs.get("random", []), strict=False):
        for target in targets:
            if random.to_reach(target) is not None and default.to_reach(target) is None:
                out.append((default.seed, target))
    return out


# -- tables --------------------------------------------------------------------------------


def reach_table(runs: Runs, labels: Mapping[str, str], targets: Sequence[float],
                metric: str) -> str:
    present = [key for key in labels if runs.get(key)]
    head = "| setup | " + " | ".join(f"{metric} <= {t:g}" for t in targets) + " |"
    lines = [head, "|---|" + "---:|" * len(targets)]
    for key in present:
        cells = []
        for target in targets:
            epochs = median_of([reach(r, target, 0) for r in runs[key]])
            seconds = median_of([reach(r, target, 1) for r in runs[key]])
            hit = sum(1 for r in runs[key] if r.to_reach(target) is not None)
            cells.append(f"{epochs.text()} ep / {seconds.text()} s ({hit}/{len(runs[key])})")
        lines.append(f"| {labels[key]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratio_table(runs: Runs, labels: Mapping[str, str], peers: Sequence[str],
                targets: Sequence[float], metric: str) -> str:
    present = [p for p in peers if runs.get(p)]
    head = ("| target | random / default, epochs | random / default, worker-s | "
            + " | ".join(f"{_short(labels[p])} / default, epochs" for p in present)
            + " | best of the peers / default, epochs |")
    lines = [head, "|---:|---:|---:|" + "---:|" * (len(present) + 1)]
    for target in targets:
        cells = [f"{metric} <= {target:g}",
                 _ratio_text(median_ratio(runs, "random", target, 0)),
                 _ratio_text(median_ratio(runs, "random", target, 1))]
        cells += [_ratio_text(median_ratio(runs, p, target, 0)) for p in present]
        best = best_peer(runs, peers, target)
        cells.append("-" if best is None else f"{_ratio_text(best[1])} ({_short(labels[best[0]])})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_table(runs: Runs, labels: Mapping[str, str]) -> str:
    lines = ["| setup | seeds | trials | epochs | worker-s | pruned or stopped | best at the "
             "budget (median; per seed) |", "|---|---:|---:|---:|---:|---:|---|"]
    for key, label in labels.items():
        rs = runs.get(key, [])
        if not rs:
            continue
        best = median_of([Bounded(r.best()) for r in rs if not math.isnan(r.best())])
        per_seed = ", ".join(f"{r.best():.3g}" for r in rs)
        lines.append(
            f"| {label} | {len(rs)} | {median_of([Bounded(len(r.trials)) for r in rs]).text()} "
            f"| {median_of([Bounded(r.spent()[0]) for r in rs]).text()} "
            f"| {median_of([Bounded(r.spent()[1]) for r in rs]).text()} "
            f"| {median_of([Bounded(r.count('pruned')) for r in rs]).text()} "
            f"| {best.value:.3g} ({per_seed}) |")
    return "\n".join(lines)


def _ratio_text(figure: Bounded) -> str:
    return "-" if math.isnan(figure.value) else f"{figure.text(1)}x"


def _short(label: str) -> str:
    return label.split(".", 1)[0] if "." in label else label


# -- the anytime plot ----------------------------------------------------------------------------


def anytime_plot(tasks: Mapping[str, Runs], labels: Mapping[str, str],
                 lines: Mapping[str, Sequence[float]], metrics: Mapping[str, str],
                 path: Path) -> None:
    """Best so far against worker-seconds: per setup the median over seeds and the range
    (shaded), one panel per task; ``lines``: horizontal references per task (the solved
    threshold). Needs matplotlib (``bench/requirements.txt``)."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("the anytime plot needs matplotlib: pip install -r "
                         "bench/requirements.txt (or pass --no-plot)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(tasks)
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.2), squeeze=False)
    for ax, task in zip(axes[0], names, strict=True):
        runs = tasks[task]
        top = max((r.spent()[1] for rs in runs.values() for r in rs), default=1.0)
        grid = [top * i / 199 for i in range(200)]
        for key, label in labels.items():
            curves = [_best_at(r, grid) for r in runs.get(key, [])]
            if not curves:
                continue
            mid, low, high = [], [], []
            for column in zip(*curves, strict=True):
                seen = sorted(v for v in column if not math.isnan(v))
                enough = len(seen) * 2 >= len(column)
                mid.append(median_of([Bounded(v) for v in seen]).value if enough else math.nan)
                low.append(seen[0] if enough else math.nan)
                high.append(seen[-1] if enough else math.nan)
            (line,) = ax.plot(grid, mid, label=label, linewidth=1.6)
            ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.15, linewidth=0)
        for value in lines.get(task, []):
            ax.axhline(value, color="grey", linestyle=":", linewidth=1)
        ax.set_yscale("log")
        ax.set_title(task)
        ax.set_xlabel("worker-seconds spent")
        ax.set_ylabel(f"best {metrics[task]} so far")
        ax.grid(alpha=0.3)
    handles, names_ = axes[0][0].get_legend_handles_labels()
    columns = max(1, min(len(names_), 2 * len(names)))  # as many as the figure's width holds
    fig.legend(handles, names_, loc="lower center", ncol=columns, fontsize=8, frameon=False)
    rows = math.ceil(len(names_) / columns)
    fig.tight_layout(rect=(0, 0.045 * rows + 0.02, 1, 1))  # room for the legend below
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _best_at(run: RunRecord, grid: Sequence[float]) -> list[float]:
    """Best so far when the search had spent each worker-seconds value of ``grid``; NaN
    before its first score and past its own budget."""
    steps = [(seconds, best) for _, seconds, _, best in run.progress()]
    total = run.spent()[1]
    out, i, best = [], 0, math.nan
    for w in grid:
        while i < len(steps) and steps[i][0] <= w:
            best = steps[i][1]
            i += 1
        out.append(best if w <= total else math.nan)
    return out
