"""Whether a study already has a trial of some parameters, by Optuna's own rule
(``Study.enqueue_trial(skip_if_exists=True)``) but over plain rows: ids, parameter rows and
the ``fixed_params`` of queued trials, never whole trials."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from numbers import Real
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from service.store._trial_rows import parse_distribution

__all__ = ["has_trial_with"]


def has_trial_with(conn: Connection, study_id: int, params: Mapping[str, Any]) -> bool:
    """True when some trial's parameters (its fixed ones when queued) repeat ``params``."""
    fixed: dict[int, dict[str, Any]] = {}
    for trial_id, value_json in conn.execute(text(
        "SELECT a.trial_id, a.value_json FROM trial_system_attributes a "
        "JOIN trials t ON t.trial_id = a.trial_id "
        "WHERE t.study_id = :study AND a.key = 'fixed_params'"), {"study": study_id}):
        fixed[int(trial_id)] = json.loads(value_json)
    if any(_repeats(p, params) for p in fixed.values()):
        return True
    suggested: dict[int, dict[str, Any]] = defaultdict(dict)
    for trial_id, name, value, dist in conn.execute(text(
        "SELECT p.trial_id, p.param_name, p.param_value, p.distribution_json "
        "FROM trial_params p JOIN trials t ON t.trial_id = p.trial_id "
        "WHERE t.study_id = :study"), {"study": study_id}):
        if int(trial_id) not in fixed:
            suggested[int(trial_id)][name] = parse_distribution(dist).to_external_repr(value)
    # A trial without any parameter has {} as its parameters (it repeats an empty set).
    if not params:
        n_trials = conn.execute(text("SELECT count(*) FROM trials WHERE study_id = :study"),
                                {"study": study_id}).scalar_one()
        return int(n_trials) > len(suggested) + len(fixed)
    return any(_repeats(p, params) for p in suggested.values())


def _repeats(existing: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    if existing.keys() != params.keys():
        return False
    for name, value in params.items():
        old = existing[name]
        if not isinstance(value, type(old)):
            return False
        if isinstance(value, Real):
            if not np.isclose(float(value), float(old), atol=0.0, equal_nan=True):
                return False
        elif value != old:
            return False
    return True
