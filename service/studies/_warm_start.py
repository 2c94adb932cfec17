"""Warm starts: the configurations a study runs first, planned and checked before any is queued.

Used by ``POST /v1/studies/{id}/enqueue`` and by a spec's ``warm_start`` at submit, so both
refuse the same things with the same messages. ``can_see`` says which earlier studies the
caller may copy from; any other is reported as not existing.
"""

from __future__ import annotations

from collections.abc import Callable

from optuna.trial import TrialState

from service.errors import NotFoundError, SpecError
from service.schemas import EnqueuedTrial, EnqueueRequest
from service.spaces import SearchSpace, best_practice_trials
from service.specs import search_trials
from service.store import StudyRecord, StudyStore, primary_value
from service.tuning import ResolvedStudy

__all__ = ["enqueue_planned", "plan_study_warm_start", "plan_warm_start"]

CanSee = Callable[[StudyRecord], bool]

Loc = tuple[str | int, ...]


def plan_warm_start(store: StudyStore, can_see: CanSee, space: SearchSpace,
                    request: EnqueueRequest, *, room: int, loc: Loc = ()) -> list[EnqueuedTrial]:
    """The trials ``request`` asks for, fitted to ``space``, in queue order: the given ones,
    an earlier study's best, then the best-practice defaults. ``room``: how many more trials
    the budget takes; ``loc`` prefixes the location of every error."""
    planned: list[EnqueuedTrial] = []
    for index, item in enumerate(request.trials):
        params, notes = space.fit_params(item.params)
        if notes or not params:
            raise SpecError("; ".join(notes) or "no parameter of this space given",
                            loc=(*loc, "trials", index, "params"))
        planned.append(EnqueuedTrial(params=params, source="user"))
    if request.from_study is not None:
        planned += _from_earlier(store, can_see, request.from_study, request.top_k, space,
                                 loc=loc)
    if request.best_practice:
        planned += [EnqueuedTrial(params=p, source="best-practice", notes=n)
                    for p, n in best_practice_trials(space)]
    if not planned:
        raise SpecError("nothing to enqueue: give trials, from_study or best_practice",
                        loc=(*loc, "trials"))
    if len(planned) > room:
        raise SpecError(
            f"{len(planned)} configurations do not fit: the budget has room for {room} more "
            f"trials", loc=(*loc, "trials"))
    return planned


def plan_study_warm_start(store: StudyStore, can_see: CanSee,
                          resolved: ResolvedStudy) -> list[EnqueuedTrial]:
    """What a new study runs first, in at most the trials its search runs: the spec's
    ``warm_start``, or nothing. No warm start by default: measured head to head, the
    best-practice configurations (Adam at 1e-3) cost more epochs than they saved, because on
    long-range tasks they sit on the loss plateau longest."""
    spec, space, room = resolved.spec, resolved.space, search_trials(resolved.spec)
    if spec.warm_start is None:
        return []
    return plan_warm_start(store, can_see, space, spec.warm_start, room=room,
                           loc=("warm_start",))


def enqueue_planned(store: StudyStore, record: StudyRecord,
                    planned: list[EnqueuedTrial]) -> None:
    for trial in planned:
        store.enqueue(record, trial.params, source=trial.source)


def _from_earlier(store: StudyStore, can_see: CanSee, source_id: int, top_k: int,
                  space: SearchSpace, *, loc: Loc) -> list[EnqueuedTrial]:
    source = store.get(source_id)
    if not can_see(source):  # as the API answers for a study the caller may not see
        raise NotFoundError(f"study {source_id} does not exist")
    maximize = source.spec["objective"]["direction"] == "maximize"
    complete = [t for t in store.trials(source)
                if t.state == TrialState.COMPLETE and primary_value(t) is not None]
    complete.sort(key=lambda t: primary_value(t) or 0.0, reverse=maximize)
    picked = []
    for trial in complete[:top_k]:
        params, notes = space.fit_params(trial.params)
        if params:
            picked.append(EnqueuedTrial(params=params, source=f"study {source_id} trial "
                                        f"{trial.number}", notes=notes))
    if not picked:
        raise SpecError(f"study {source_id} has no completed trial that fits this space",
                        loc=(*loc, "from_study"))
    return picked
