"""Asynchronous successive halving that does not rank noise and spares trials breaking away.

Rungs sit at ``min_resource * reduction_factor**k`` epochs, none in the last
``1/reduction_factor`` of training (there a rung saves little and risks a trial's last
epochs). A trial reaching a rung is compared with every other trial that reached the same
rung, finished or still running, so it decides from the first few trials on (unlike the
median rule, which waits for finished ones). It is stopped only when all of the following
hold:

- at least ``min_trials`` trials (itself included, 2 by default) have reached the rung;
- the trial is outside the top ``1/reduction_factor`` of the rung and worse than the worst
  kept score by more than ``min_improvement`` (relative), on a rung that carries signal (its
  kept scores beat its median by that much);
- on a rung without signal, where every trial sits on one plateau and the differences are
  noise, the rank alone decides nothing: a trial outside the kept third is stopped when it is
  far off the kept ones (``plateau_margin``; by default at twice their loss), or when it
  has stalled: past the first rung, neither its validation score nor its training loss
  improved by ``min_improvement`` in its last epoch. A noisy run that is still moving is kept
  (the high-learning-rate gated cells that break through look worst just before), a flat
  one makes room for a fresh configuration. The kept third goes on even when flat: on a
  plateau it is the luckiest noise, but it is also how some trials get the epochs a late
  break needs (recurrent nets may sit on a plateau for ten epochs or more and then drop);
  stopping every flat trial at a rung would stop every trial of such a study there;
- it is not breaking away right now: neither its validation score nor its training loss
  improved by ``breakthrough`` (relative) in its last epoch.

A trial is judged again at every epoch after a rung, its best score so far against the scores
others had at that rung: the first trials of a study pass their rungs before enough others
reach them, and would otherwise run to the end unjudged. Having trained longer only helps it,
so a kept trial is stopped later only when trials that arrived since beat it clearly.

Steps are 1-based epochs (a rung at 1 is judged after the first epoch).
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from service.trial_attrs import ATTR_EPOCHS
from service.tuning._plateau import best_so_far, has_signal, minimizes, relative_gain

__all__ = ["PlateauAwareASHAPruner", "latest_rung"]

_PEER_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


class PlateauAwareASHAPruner(optuna.pruners.BasePruner):
    """Successive halving with a plateau guard and a breakthrough guard (see module doc)."""

    def __init__(
        self,
        *,
        max_resource: int,
        min_resource: int = 1,
        reduction_factor: int = 3,
        min_trials: int | None = None,
        min_improvement: float = 0.05,
        breakthrough: float = 0.3,
        plateau_margin: float = 0.5,
    ) -> None:
        if min_resource < 1 or reduction_factor < 2 or max_resource < 1:
            raise ValueError(
                f"min_resource {min_resource} must be >= 1, reduction_factor "
                f"{reduction_factor} >= 2 and max_resource {max_resource} >= 1")
        self.rungs = _rungs(min_resource, reduction_factor, max_resource)
        self.reduction_factor = reduction_factor
        # Two suffice (as in Ray Tune's ASHA): with one worker per core on a small machine,
        # waiting for a third trial leaves the first two unjudged until one of them ends.
        self.min_trials = 2 if min_trials is None else min_trials
        self.min_improvement = min_improvement
        self.breakthrough = breakthrough
        self.plateau_margin = plateau_margin

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        rung = max((r for r in self.rungs if r <= step), default=None) if step else None
        if step is None or rung is None:
            return False
        minimize = minimizes(study)
        own = best_so_far(trial.intermediate_values, up_to=step, minimize=minimize)
        if own is None or not math.isfinite(own):
            return True  # every score so far is NaN or infinite: the run diverged
        if self._breaking_away(trial, step, minimize=minimize):
            return False
        values = [own, *self._rung_scores(study, trial, rung, minimize=minimize)]
        if len(values) < self.min_trials:
            return False
        keep = max(1, len(values) // self.reduction_factor)
        cutoff = sorted(values, key=lambda v: _sort_key(v, minimize))[keep - 1]
        signal = has_signal(values, minimize=minimize, min_improvement=self.min_improvement,
                            top_fraction=keep / len(values))
        first_rung = rung == min(self.rungs)
        stalled = not first_rung and not self._moving(trial, step, self.min_improvement,
                                                      minimize=minimize)
        if _sort_key(own, minimize) <= _sort_key(cutoff, minimize):
            return False  # among the kept
        gap = relative_gain(cutoff, own, minimize=minimize)
        if signal:
            return gap > self.min_improvement
        return gap > self.plateau_margin or stalled

    def _rung_scores(self, study: optuna.Study, trial: FrozenTrial, step: int, *,
                     minimize: bool) -> list[float]:
        scores = []
        for other in study.get_trials(deepcopy=False, states=_PEER_STATES):
            if other.number == trial.number or not other.intermediate_values:
                continue
            if max(other.intermediate_values) < step:
                continue  # has not reached this rung yet
            score = best_so_far(other.intermediate_values, up_to=step, minimize=minimize)
            if score is not None:
                scores.append(score)
        return scores

    def _breaking_away(self, trial: FrozenTrial, step: int, *, minimize: bool) -> bool:
        return self._moving(trial, step, self.breakthrough, minimize=minimize)

    @staticmethod
    def _moving(trial: FrozenTrial, step: int, fraction: float, *, minimize: bool) -> bool:
        """Whether the validation score or the training loss improved by ``fraction``
        (relative) in the last epoch."""
        if step < 2:
            return False
        now = trial.intermediate_values.get(step)
        before = best_so_far(trial.intermediate_values, up_to=step - 1, minimize=minimize)
        if now is not None and before is not None and math.isfinite(now) and math.isfinite(
                before) and relative_gain(now, before, minimize=minimize) >= fraction:
            return True
        # The training loss leads the validation score out of a plateau by an epoch or so.
        losses = _train_losses(trial)
        if len(losses) >= 2 and all(math.isfinite(x) for x in losses[-2:]):
            return relative_gain(losses[-1], min(losses[:-1]), minimize=True) >= fraction
        return False


def latest_rung(reduction_factor: int, max_resource: int) -> int:
    """The last epoch a rung may sit at: none in the last ``1/reduction_factor`` of training.

    A rung there saves less than that share (a third at the default factor) of a trial it
    stops, while successive halving gives a kept trial at least that stretch after its last
    rung: at 10 epochs a rung at 9 saved one epoch per stopped trial and stopped one whose
    tenth epoch was its best. Trials kept at the rung before run to the end instead.
    """
    return max_resource * (reduction_factor - 1) // reduction_factor


def _rungs(min_resource: int, reduction_factor: int, max_resource: int) -> frozenset[int]:
    """``min_resource * reduction_factor**k`` up to :func:`latest_rung`."""
    latest = latest_rung(reduction_factor, max_resource)
    rungs = set()
    resource = min_resource
    while resource <= latest:
        rungs.add(resource)
        resource *= reduction_factor
    return frozenset(rungs)


def _sort_key(value: float, minimize: bool) -> float:
    if not math.isfinite(value):
        return math.inf
    return value if minimize else -value


def _train_losses(trial: FrozenTrial) -> list[float]:
    epochs: Any = trial.user_attrs.get(ATTR_EPOCHS) or []
    return [float(e["train_loss"]) for e in epochs
            if isinstance(e, dict) and isinstance(e.get("train_loss"), int | float)]
