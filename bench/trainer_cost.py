"""Trainer cost: one epoch of rnntune's ``Trainer`` against a bare PyTorch loop.

Both train the same model from the same initial weights on the same tensors, in the same
shuffled order, with the same batch size and optimizer, then run one validation pass over the
same validation split; the bare loop does nothing else (no per-batch loss or gradient norm read
back, no metrics beyond the loss, no reporting). The ``Trainer`` runs as a worker runs it:
``fit`` for one epoch, recording the loss and the global gradient norm of every batch and
computing every metric of the task after the epoch. One torch thread, as in a worker.

Repeats alternate which of the two goes first; each repeat gives one ratio (trainer / bare)
and the figures are medians over repeats.

    python -m bench.trainer_cost --repeats 15 --write-doc
"""

from __future__ import annotations

import argparse
import copy
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from bench._benchmarks_doc import DOC_PATH, GPU_NOTE, fmt, header, write_section
from bench._cpu_use import ForeignCpu
from bench._machine import machine_facts
from bench._quiet import load1, wait_for_quiet
from bench._stats import median
from service.models import SequenceModel, SequenceModelConfig
from service.tasks import SequenceSplit, generate_adding
from service.training import TrainConfig, Trainer

SECTION_TITLE = "## Trainer cost: one epoch against a bare PyTorch loop"


@dataclass(frozen=True)
class Case:
    name: str
    cell: Literal["rnn", "lstm", "gru"]
    hidden: int
    seq_len: int
    n_train: int
    n_val: int
    batch_size: int
    grad_clip: float | None = None

    def describe(self) -> str:
        clip = f", clip {self.grad_clip} in both" if self.grad_clip else ""
        return (f"{self.cell.upper()} h={self.hidden}, adding T={self.seq_len}, "
                f"{self.n_train} train / {self.n_val} val, batch {self.batch_size}, "
                f"Adam{clip}")


CASES = (
    # The reference model of DESIGN §4 (LSTM h=64 on the adding problem, T=50).
    Case("lstm64", "lstm", 64, 50, 2048, 256, 64),
    # The same with gradient clipping: the trainer's norm then comes from clip_grad_norm_.
    Case("lstm64-clip", "lstm", 64, 50, 2048, 256, 64, grad_clip=1.0),
    # A small model with many small batches: fixed per-batch costs weigh the most here.
    Case("gru16", "gru", 16, 20, 2048, 256, 32),
)
QUICK_CASES = (Case("gru8-quick", "gru", 8, 10, 256, 64, 32),)


@dataclass
class CaseResult:
    case: Case
    bare_s: list[float] = field(default_factory=list)
    trainer_s: list[float] = field(default_factory=list)
    bare_cpu_s: list[float] = field(default_factory=list)
    trainer_cpu_s: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [t / b for t, b in zip(self.trainer_s, self.bare_s, strict=True)]

    @property
    def ratio(self) -> float:
        return median(self.ratios)

    @property
    def cpu_ratio(self) -> float:
        return median([t / b for t, b in zip(self.trainer_cpu_s, self.bare_cpu_s, strict=True)
                       if b > 0])


def make_data(case: Case) -> tuple[SequenceSplit, SequenceSplit]:
    return (generate_adding(case.n_train, case.seq_len, seed=1),
            generate_adding(case.n_val, case.seq_len, seed=2))


def make_model(case: Case) -> SequenceModel:
    torch.manual_seed(0)
    return SequenceModel(SequenceModelConfig(
        cell=case.cell, input_size=2, output_size=1, hidden_size=case.hidden,
        num_layers=1, nonlinearity="tanh", bidirectional=False, dropout=0.0,
        forget_bias=1.0 if case.cell == "lstm" else 0.0, recurrent_init="default",
    ))


def bare_epoch(model: SequenceModel, case: Case, train: SequenceSplit,
               val: SequenceSplit, seed: int) -> tuple[float, float]:
    """Train one epoch and validate once, with nothing but what training needs."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    started, cpu = time.perf_counter(), time.process_time()
    perm = torch.randperm(train.n, generator=torch.Generator().manual_seed(seed))
    model.train()
    for start in range(0, train.n, case.batch_size):
        idx = perm[start:start + case.batch_size]
        optimizer.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(train.x[idx]), train.y[idx])
        torch.autograd.backward(loss)
        if case.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), case.grad_clip)
        optimizer.step()
    model.eval()
    with torch.no_grad():
        F.mse_loss(model(val.x), val.y).item()
    return time.perf_counter() - started, time.process_time() - cpu


def trainer_epoch(model: SequenceModel, case: Case, train: SequenceSplit,
                  val: SequenceSplit, seed: int) -> tuple[float, float]:
    """One epoch of ``Trainer.fit`` as a worker runs it (the callback does no work)."""
    config = TrainConfig(max_epochs=1, lr=1e-3, optimizer="adam", batch_size=case.batch_size,
                         grad_clip=case.grad_clip, seed=seed)
    # Building the optimizer is timed in both loops; the trainer builds its own.
    started, cpu = time.perf_counter(), time.process_time()
    trainer = Trainer(model, config, kind="regression", device=torch.device("cpu"))
    result = trainer.fit(train, val, on_epoch_end=lambda _: False)
    elapsed = time.perf_counter() - started, time.process_time() - cpu
    assert result.status == "completed", result
    return elapsed


def measure(case: Case, repeats: int) -> CaseResult:
    train, val = make_data(case)
    initial = make_model(case)
    result = CaseResult(case)

    def run(kind: str, seed: int) -> tuple[float, float]:
        model = copy.deepcopy(initial)
        if kind == "bare":
            return bare_epoch(model, case, train, val, seed)
        return trainer_epoch(model, case, train, val, seed)

    run("bare", 0)  # warm-up: first calls allocate and pick kernels
    run("trainer", 0)
    for repeat in range(repeats):
        order = ("bare", "trainer") if repeat % 2 == 0 else ("trainer", "bare")
        times = {kind: run(kind, repeat) for kind in order}
        result.bare_s.append(times["bare"][0])
        result.trainer_s.append(times["trainer"][0])
        result.bare_cpu_s.append(times["bare"][1])
        result.trainer_cpu_s.append(times["trainer"][1])
    return result


def table(results: Sequence[CaseResult]) -> str:
    lines = [
        "| case | bare loop, s/epoch | Trainer, s/epoch | Trainer / bare (median) "
        "| ratio range | Trainer / bare, CPU time |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.case.describe()} | {fmt(median(r.bare_s), 3)} "
            f"| {fmt(median(r.trainer_s), 3)} | **{fmt(r.ratio, 3)}x** "
            f"| {fmt(min(r.ratios), 3)}-{fmt(max(r.ratios), 3)} | {fmt(r.cpu_ratio, 3)}x |"
        )
    return "\n".join(lines)


def section(results: Sequence[CaseResult], *, command: str, repeats: int, threads: int,
            loads: tuple[float, float], foreign: float, notes: Sequence[str]) -> str:
    worst = max(r.ratio for r in results)
    verdict = ("met" if worst <= 1.05 else "**missed**")
    lines = header(
        SECTION_TITLE,
        intro=("One epoch of `service.training.Trainer.fit` (per-batch loss and global "
               "gradient norm before clipping, divergence checks, every task metric after "
               "the epoch) against a bare PyTorch loop over the same model, initial weights, "
               "tensors, shuffled order, batch size and optimizer (forward, loss, backward, "
               "step; then one validation forward and its loss). Both include one validation "
               "pass over the same split. Repeats alternate which loop goes first; each "
               "repeat gives one ratio, figures are medians."),
        command=command, facts=machine_facts(),
        conditions=(f"{threads} torch thread(s), {repeats} repeats per case; load average "
                    f"{loads[0]:.2f} at the start and {loads[1]:.2f} at the end; CPU used by "
                    f"other jobs during the run: {foreign:.0%} of the machine."),
    )
    lines += [table(results), "",
              f"Target: at most 1.05x. Worst case {worst:.3f}x: {verdict}.", ""]
    lines += [*notes, GPU_NOTE, ""]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.trainer_cost",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1, as in a worker process)")
    parser.add_argument("--max-load", type=float, default=1.5,
                        help="wait until the 1-minute load is below this (default 1.5)")
    parser.add_argument("--max-wait", type=float, default=600.0,
                        help="give up waiting for a quiet machine after this many seconds")
    parser.add_argument("--quick", action="store_true",
                        help="one tiny case, 2 repeats, no waiting: a smoke test")
    parser.add_argument("--write-doc", action="store_true",
                        help=f"replace the section '{SECTION_TITLE[3:]}' of the doc")
    parser.add_argument("--doc", type=Path, default=DOC_PATH,
                        help="the page --write-doc writes (default docs/benchmarks.md)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.threads < 1:
        parser.error("--repeats and --threads must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> list[CaseResult]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    cases, repeats = (QUICK_CASES, 2) if args.quick else (CASES, args.repeats)
    start_load = load1() if args.quick else wait_for_quiet(args.max_load, args.max_wait)
    results = []
    with ForeignCpu() as foreign:
        for case in cases:
            print(f"{case.name}: {repeats} repeats ...", flush=True)
            results.append(measure(case, repeats))
    end_load = load1()
    print(table(results))
    if args.write_doc:
        argv_list = list(sys.argv[1:] if argv is None else argv)
        command = "python -m bench.trainer_cost " + shlex.join(argv_list)
        write_section(SECTION_TITLE, section(
            results, command=command.strip(), repeats=repeats, threads=args.threads,
            loads=(start_load, end_load), foreign=foreign.share, notes=[]), args.doc)
        print(f"wrote the section to {args.doc}")
    return results


if __name__ == "__main__":
    main()
