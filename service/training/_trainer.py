"""A plain PyTorch trainer for in-memory sequence data.

It knows nothing of tuning: a pruner reaches it only through the per-epoch callback. Divergence
(a non-finite loss, or a non-finite gradient norm without AMP) is an expected outcome of a bad
configuration, so it ends training with status ``"diverged"`` instead of raising.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..tasks import SequenceSplit, TaskKind, compute_metrics
from ._config import TrainConfig
from ._optim import build_optimizer

TrainStatus = Literal["completed", "stopped", "diverged", "interrupted"]


@dataclass
class EpochResult:
    """What one epoch produced. Gradient norms are global L2 norms before clipping."""

    epoch: int  # 0-based
    train_loss: float
    val_metrics: dict[str, float]
    grad_norm_mean: float
    grad_norm_max: float
    duration_s: float


@dataclass
class TrainResult:
    """The outcome of :meth:`Trainer.fit`: why it ended and every finished epoch."""

    status: TrainStatus
    epochs: list[EpochResult] = field(default_factory=list)
    message: str = ""


EpochCallback = Callable[[EpochResult], bool]
"""Called after each epoch's validation; returning True stops training (e.g. pruned)."""


class Trainer:
    """Trains ``model`` on tensors held on ``device``, one validation pass per epoch.

    ``fit`` is deterministic given ``config.seed`` and the model's initial weights: epoch ``e``
    shuffles with a generator seeded ``seed + e`` and draws dropout masks from the global RNG
    reseeded the same way (the caller's RNG state is restored afterwards). Calling ``fit``
    again, or after :meth:`load_state_dict`, continues from the next epoch.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        *,
        kind: TaskKind,
        device: torch.device,
        target_scale: torch.Tensor | None = None,
    ) -> None:
        self.model = model.to(device)
        # Standardised regression targets: metrics multiply errors back into the data's units.
        self.target_scale = None if target_scale is None else target_scale.to(device)
        self.config = config
        self.kind = kind
        self.device = device
        self._params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(
            config.optimizer,
            self._params,
            lr=config.lr,
            weight_decay=config.weight_decay,
            momentum=config.momentum,
        )
        self._amp = config.amp and device.type == "cuda"
        self._scaler = torch.amp.GradScaler("cuda", enabled=self._amp)
        self._loss_fn = F.cross_entropy if kind == "classification" else F.mse_loss
        self.epoch = config.start_epoch  # the next epoch to run

    def fit(
        self,
        train: SequenceSplit,
        val: SequenceSplit,
        *,
        on_epoch_end: EpochCallback | None = None,
        should_interrupt: Callable[[], bool] | None = None,
    ) -> TrainResult:
        """Train up to ``config.max_epochs``, validating after every epoch.

        Returns status ``"completed"`` after the last epoch, ``"stopped"`` when
        ``on_epoch_end`` returned True, ``"diverged"`` (with a message) on a non-finite
        training or validation loss, ``"interrupted"`` when ``should_interrupt`` turned true
        between two batches (the unfinished epoch is discarded; ``epoch`` stays at it).
        """
        if train.n == 0 or val.n == 0:
            raise ValueError(f"empty split: {train.n} training and {val.n} validation sequences")
        train, val = train.to(self.device), val.to(self.device)  # once, not per batch
        result = TrainResult(status="completed")
        while self.epoch < self.config.max_epochs:
            epoch = self.epoch
            started = time.perf_counter()
            outcome = self._train_epoch(train, epoch, should_interrupt)
            if outcome is None:
                result.status = "interrupted"
                result.message = f"interrupted during epoch {epoch}"
                return result
            if isinstance(outcome, str):
                result.status, result.message = "diverged", outcome
                return result
            train_loss, norms = outcome
            val_metrics = self.evaluate(val)
            self.epoch += 1
            finite_norms = [n for n in norms if math.isfinite(n)]
            epoch_result = EpochResult(
                epoch=epoch,
                train_loss=train_loss,
                val_metrics=val_metrics,
                # NaN only when AMP skipped every step of the epoch.
                grad_norm_mean=_mean(finite_norms),
                grad_norm_max=max(finite_norms, default=math.nan),
                duration_s=time.perf_counter() - started,
            )
            result.epochs.append(epoch_result)
            if not math.isfinite(val_metrics["loss"]):
                result.status = "diverged"
                result.message = f"validation loss became {val_metrics['loss']} at epoch {epoch}"
                return result
            if on_epoch_end is not None and on_epoch_end(epoch_result):
                result.status = "stopped"
                return result
        return result

    def _train_epoch(
        self, train: SequenceSplit, epoch: int, should_interrupt: Callable[[], bool] | None
    ) -> tuple[float, list[float]] | str | None:
        """Run one epoch; return (mean loss, per-batch grad norms), a divergence message, or
        None when interrupted."""
        seed = self.config.seed + epoch
        perm = torch.randperm(train.n, generator=torch.Generator().manual_seed(seed))
        perm = perm.to(self.device)
        batch_size = self.config.batch_size
        clip = self.config.grad_clip
        total_loss = 0.0
        norms: list[float] = []
        self.model.train()
        with self._seeded_rng(seed):
            for batch, start in enumerate(range(0, train.n, batch_size)):
                if should_interrupt is not None and should_interrupt():
                    return None
                idx = perm[start : start + batch_size]
                lengths = None if train.lengths is None else train.lengths[idx]
                self.optimizer.zero_grad(set_to_none=True)
                with torch.autocast(self.device.type, enabled=self._amp):
                    output = self._forward(train.x[idx], lengths)
                    loss = self._loss_fn(output.float(), train.y[idx])
                torch.autograd.backward(self._scaler.scale(loss))
                if self._amp:
                    self._scaler.unscale_(self.optimizer)  # so the norm is in true units
                grads = [p.grad for p in self._params if p.grad is not None]
                if clip:
                    norm = torch.nn.utils.clip_grad_norm_(self._params, clip)  # pre-clip norm
                else:
                    norm = torch.nn.utils.get_total_norm(grads)
                # One host sync per batch for both values, so divergence stops training at once.
                loss_value, norm_value = torch.stack([loss.detach().float(), norm.float()]).tolist()
                if not math.isfinite(loss_value):
                    return f"training loss became {loss_value} at epoch {epoch} batch {batch}"
                # With AMP an overflowing gradient is routine: the scaler skips the step.
                if not self._amp and not math.isfinite(norm_value):
                    return f"gradient norm became {norm_value} at epoch {epoch} batch {batch}"
                self._scaler.step(self.optimizer)
                self._scaler.update()
                norms.append(norm_value)
                total_loss += loss_value * idx.numel()
        return total_loss / train.n, norms

    @torch.no_grad()
    def evaluate(self, split: SequenceSplit) -> dict[str, float]:
        """Return every metric of the task kind on ``split`` (see ``compute_metrics``)."""
        if split.n == 0:
            raise ValueError("cannot evaluate an empty split")
        split = split.to(self.device)
        self.model.eval()
        outputs = []
        step = self.config.eval_batch_size
        for start in range(0, split.n, step):
            lengths = None if split.lengths is None else split.lengths[start : start + step]
            with torch.autocast(self.device.type, enabled=self._amp):
                output = self._forward(split.x[start : start + step], lengths)
            outputs.append(output.float())
        output, target = torch.cat(outputs), split.y
        if self.target_scale is not None and self.kind != "classification":
            output, target = output * self.target_scale, target * self.target_scale
        return compute_metrics(self.kind, output, target)

    def _forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        out: torch.Tensor = self.model(x) if lengths is None else self.model(x, lengths)
        return out

    @contextmanager
    def _seeded_rng(self, seed: int) -> Iterator[None]:
        # Dropout draws from the global RNG: seed it per epoch, then give the caller theirs back.
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def state_dict(self) -> dict[str, Any]:
        """Return model, optimizer and scaler state and the next epoch, for checkpoints."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self._scaler.state_dict(),
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the next ``fit`` resumes at its epoch."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self._scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["epoch"])


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan
