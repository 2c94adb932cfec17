"""The Pareto front of a multi-objective study from its complete trials' values alone.

``Study.best_trials`` builds every trial of the study (parameters, attributes, per-epoch
values) to compare a few numbers; here only the values and constraints of complete trials are
read, the front is found with Optuna's own functions (so it is the same front), and only the
front's trials are built.
"""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
from optuna.storages._rdb import models
from optuna.study import StudyDirection
from optuna.study._constrained_optimization import (
    _CONSTRAINTS_KEY,
    _get_constraints_from_system_attrs,
)
from optuna.study._multi_objective import _is_pareto_front, _normalize_value
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import Connection, select, text

from service.store._trial_rows import load_trials

__all__ = ["pareto_front"]

_trials = models.TrialModel.__table__
_values = models.TrialValueModel.__table__


def pareto_front(conn: Connection, study_id: int) -> list[FrozenTrial]:
    """The feasible complete trials no other beats on every objective, by number."""
    directions = [StudyDirection[str(d).rsplit(".", 1)[-1]] for d in conn.execute(text(
        "SELECT direction FROM study_directions WHERE study_id = :study ORDER BY objective"),
        {"study": study_id}).scalars()]
    values: dict[int, dict[int, float]] = defaultdict(dict)
    # Core over Optuna's table, so its value type column reads back as Optuna's enum.
    for trial_id, objective, value, value_type in conn.execute(
        select(_values.c.trial_id, _values.c.objective, _values.c.value, _values.c.value_type)
        .join(_trials, _trials.c.trial_id == _values.c.trial_id)
        .where(_trials.c.study_id == study_id, _trials.c.state == TrialState.COMPLETE)):
        values[int(trial_id)][int(objective)] = models.TrialValueModel.stored_repr_to_value(
            value, value_type)
    # Constraints of any trial make the study a constrained one (as Optuna decides).
    attrs: dict[int, dict[str, object]] = defaultdict(dict)
    for trial_id, key, value_json in conn.execute(text(
        "SELECT a.trial_id, a.key, a.value_json FROM trial_system_attributes a "
        "JOIN trials t ON t.trial_id = a.trial_id WHERE t.study_id = :study "
        "AND (a.key = :key OR a.key LIKE :prefix)"),
        {"study": study_id, "key": _CONSTRAINTS_KEY, "prefix": f"{_CONSTRAINTS_KEY}:%"}):
        attrs[int(trial_id)][str(key)] = json.loads(value_json)
    constrained = any(_get_constraints_from_system_attrs(a) for a in attrs.values())
    ids = sorted(
        trial_id for trial_id, by_objective in values.items()
        if len(by_objective) == len(directions) and (not constrained or all(
            c <= 0.0 for c in _get_constraints_from_system_attrs(attrs[trial_id]).values()))
    )
    if not ids:
        return []
    losses = np.asarray([[_normalize_value(values[i][k], d) for k, d in enumerate(directions)]
                         for i in ids])
    on_front = _is_pareto_front(losses, assume_unique_lexsorted=False)
    return load_trials(conn, [i for i, front in zip(ids, on_front, strict=True) if front])
