"""The Optuna studies a worker keeps between trials, least recently used out first.

A study object carries Optuna's cache of its finished trials, so the next trial of that study
reads only what changed since; a fresh ``load_study`` reads every trial (seconds in a study of
thousands). Claims rotate between the active studies, so a worker keeps several.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

import optuna

from service.store import StudyRecord

__all__ = ["StudyCache"]

# The creation time tells a study apart from a deleted one whose id and name were reused.
_Key = tuple[int, str, datetime]


class StudyCache:
    """Up to ``capacity`` studies by id; each trial gets its own sampler and pruner."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._studies: OrderedDict[int, tuple[_Key, optuna.Study]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._studies)

    def __contains__(self, study_id: object) -> bool:
        return study_id in self._studies

    def peek(self, study_id: int) -> optuna.Study | None:
        """The cached study, without touching its place in the order."""
        entry = self._studies.get(study_id)
        return None if entry is None else entry[1]

    def get(
        self,
        record: StudyRecord,
        *,
        sampler: optuna.samplers.BaseSampler,
        pruner: optuna.pruners.BasePruner,
        load: Callable[[], optuna.Study],
    ) -> optuna.Study:
        """The cached study of ``record`` with this sampler and pruner, or ``load()``'s.

        Finished trials never change, so the cached ones stay valid; a study re-created under
        the same id is told apart by its creation time and loaded afresh.
        """
        key: _Key = (record.id, record.name, record.created_at)
        entry = self._studies.get(record.id)
        if entry is not None and entry[0] == key:
            self._studies.move_to_end(record.id)
            study = entry[1]
            study.sampler, study.pruner = sampler, pruner
            return study
        self._studies.pop(record.id, None)
        study = load()
        self._studies[record.id] = (key, study)
        while len(self._studies) > self.capacity:
            self._studies.popitem(last=False)
        return study

    def drop(self, study_id: int) -> None:
        """Forget one study (its trial ended abnormally: read it afresh next time)."""
        self._studies.pop(study_id, None)

    def clear(self) -> None:
        """Forget every study (the database went away: read them all afresh)."""
        self._studies.clear()
