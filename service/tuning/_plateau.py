"""Signal on a plateau: whether a set of scores tells configurations apart at all.

Recurrent networks on long-range tasks sit on a loss plateau for several epochs before they
drop (the adding problem: every configuration near the trivial 1/6 until some break away). On
such a plateau the scores differ only by noise, and ranking them is worse than useless: the
configurations most likely to break through (gated cells with high learning rates) are often
the noisiest and look *worse* than the plateau early on. The sampler and the pruner share this
one test so that both treat "no signal" the same way.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import optuna
from optuna.study import StudyDirection

__all__ = ["best_so_far", "has_signal", "minimizes", "relative_gain"]


def minimizes(study: optuna.Study) -> bool:
    """Whether the study's (first) objective is minimised."""
    return study.directions[0] == StudyDirection.MINIMIZE


def relative_gain(better: float, reference: float, *, minimize: bool) -> float:
    """How much ``better`` improves on ``reference``, as a fraction of ``reference``'s size.

    Relative rather than absolute, so one threshold serves losses of any scale; a floor on the
    denominator keeps scores near zero from turning tiny differences into large fractions.
    """
    gain = reference - better if minimize else better - reference
    return gain / max(abs(reference), 1e-12)


def has_signal(values: Sequence[float], *, minimize: bool, min_improvement: float,
               top_fraction: float = 0.0) -> bool:
    """Whether the best of ``values`` stands out from their median by ``min_improvement``.

    With ``top_fraction`` > 0, the score at the edge of the best ``top_fraction`` (the worst
    one that a successive-halving rung would keep) must stand out instead of the very best:
    a single lucky score then does not count as signal for ranking the rest. Non-finite
    scores (diverged runs) are the worst possible and count toward the median.
    """
    worst = math.inf if minimize else -math.inf
    scores = sorted((v if math.isfinite(v) else worst for v in values), reverse=not minimize)
    if len(scores) < 2:
        return False
    median = statistics.median(scores)
    if not math.isfinite(median):
        return any(math.isfinite(v) for v in scores)  # most diverged: finite ones stand out
    edge = max(0, math.ceil(len(scores) * top_fraction) - 1)
    return relative_gain(scores[edge], median, minimize=minimize) > min_improvement


def best_so_far(intermediate: dict[int, float], *, minimize: bool,
                up_to: int | None = None) -> float | None:
    """The best score reported (at steps ``<= up_to`` when given); None when none was."""
    values = [v for step, v in intermediate.items()
              if (up_to is None or step <= up_to) and not math.isnan(v)]
    if not values:
        return None
    return min(values) if minimize else max(values)
