"""How a study's budget divides between the search and the selection step's re-runs (see
``_selection``): plain arithmetic on the spec, needed wherever a study is created."""

from __future__ import annotations

from service.specs._models import StudySpec

__all__ = ["search_trials", "selection_plan"]

# The re-runs may take at most this share of the budget; k shrinks to fit.
_MAX_SHARE = 5


def selection_plan(spec: StudySpec) -> tuple[int, int]:
    """``(k, reserved trials)`` of a spec: k candidates, each trained with every seed on every
    validation split but the trial's own (the study's seed on the study's split), so
    ``seeds x splits - 1`` runs each; (0, 0) when the step is off (asked off, one seed and one
    split, several objectives, or a budget too small to spare two candidates' re-runs in a
    fifth of it)."""
    evaluation = spec.evaluation
    extra = evaluation.seeds * evaluation.validation.n_splits - 1
    if extra < 1 or spec.also_minimize:
        return 0, 0
    k = min(spec.evaluation.select_top_k, spec.budget.n_trials // (_MAX_SHARE * extra))
    if k < 2:
        return 0, 0
    return k, k * extra


def search_trials(spec: StudySpec) -> int:
    """The trials the search runs: the budget less what the selection step keeps."""
    return spec.budget.n_trials - selection_plan(spec)[1]
