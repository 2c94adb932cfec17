"""The JSON of studies in the study list, kept between requests.

A page of 100 studies cost ~13 ms of server CPU, most of it the same work on every request:
decoding each row's JSON columns (~7 ms), building the views (~4 ms) and serialising them
(~1 ms); under 50 clients the list took more of the API's interpreter than submits did. A
study's JSON is kept with the row and the trial summary it was built from, and used again
while a new read of both is equal to them: a page then costs its SQL and a comparison per
study. Each API process keeps its own; memory is bounded by ``capacity`` studies.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from service.api._views import study_public_from_summary
from service.store import StudyRow, TrialSummary

__all__ = ["StudyViews"]

# A study's JSON is 1-3 kB (its spec included); with its row, 2,000 stay within ~10 MB.
DEFAULT_CAPACITY = 2000


class _Kept(NamedTuple):
    row: StudyRow
    summary: TrialSummary
    text: str


class StudyViews:
    """An LRU of studies' JSON, by study id, each valid for the row and summary it was built
    from."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._kept: OrderedDict[int, _Kept] = OrderedDict()
        self._lock = threading.Lock()  # the read lane runs requests on several threads

    def __len__(self) -> int:
        return len(self._kept)

    def page_json(self, rows: Sequence[StudyRow], summaries: Mapping[int, TrialSummary], *,
                  total: int, offset: int, limit: int) -> str:
        """The page as ``StudySummaryList(...).model_dump_json()`` writes it."""
        studies = ",".join(self.study_json(row, summaries[row.id]) for row in rows)
        return (f'{{"studies":[{studies}],"total":{total},"offset":{offset},'
                f'"limit":{limit}}}')

    def study_json(self, row: StudyRow, summary: TrialSummary) -> str:
        """``study_public_from_summary(row.record(), summary)``'s JSON."""
        with self._lock:
            kept = self._kept.get(row.id)
            if kept is not None and kept.row == row and kept.summary == summary:
                self._kept.move_to_end(row.id)
                return kept.text
        text = study_public_from_summary(row.record(), summary).model_dump_json()
        with self._lock:
            self._kept[row.id] = _Kept(row, summary, text)
            self._kept.move_to_end(row.id)
            while len(self._kept) > self.capacity:
                self._kept.popitem(last=False)
        return text
