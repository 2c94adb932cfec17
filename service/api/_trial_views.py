"""The views of finished trials, kept between requests.

A page of 100 trials cost ~25 ms of server CPU on a 10,000-trial study, nearly all of it
loading the trials' rows and building their views (per-epoch records decoded from JSON, one
pydantic model per epoch), the same work for the same finished trials on every request. A
finished trial never changes again, so its view is kept, by trial id and completion time,
and a page loads only the trials it has not seen finished (running ones, and the first sight
of each). Each API process keeps its own; memory is bounded by ``capacity`` views.

A kept view's JSON is kept with it: serialising a page of 100 views took 0.6 ms of the
~3 ms a page request cost, for text that never changes. ``page_json`` joins the kept texts.

Trials not yet kept are loaded by one request at a time: when several clients open the same
unseen page at once (a dashboard's clients, the first look at a deep page), each would
otherwise load and build the same 100 views, and 8 such requests sharing the interpreter took
~300 ms each; the ones that wait find the views kept by the first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from service.api._views import trial_public
from service.schemas import TrialPublic
from service.store import StudyRecord, StudyStore, TrialStamp

__all__ = ["TrialViews"]

# A view of a trial with 10 epochs is a few kB (and its JSON ~1.7 kB); 5,000 of them stay
# within ~35 MB.
DEFAULT_CAPACITY = 5000

_Key = tuple[int, datetime]


class TrialViews:
    """An LRU of finished trials' views and their JSON, keyed by (trial id, completion
    time)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._views: OrderedDict[_Key, _Kept] = OrderedDict()
        self._lock = threading.Lock()  # FastAPI runs sync routes on a thread pool
        self._loading = threading.Lock()  # one request loads unseen trials at a time

    def __len__(self) -> int:
        return len(self._views)

    def page(self, store: StudyStore, record: StudyRecord, *, offset: int, limit: int,
             state: str | None = None) -> tuple[int, list[TrialPublic]]:
        """(total, views) of one page of ``record``'s trials, as ``trial_public`` builds them."""
        total, entries = self._entries(store, record, offset=offset, limit=limit, state=state)
        return total, [view for view, _ in entries]

    def page_json(self, store: StudyStore, record: StudyRecord, *, offset: int, limit: int,
                  state: str | None = None) -> str:
        """The page as ``TrialsPage(...).model_dump_json()`` writes it, from the kept texts."""
        total, entries = self._entries(store, record, offset=offset, limit=limit, state=state)
        trials = ",".join(text if text is not None else view.model_dump_json()
                          for view, text in entries)
        return f'{{"total":{total},"offset":{offset},"limit":{limit},"trials":[{trials}]}}'

    def _entries(self, store: StudyStore, record: StudyRecord, *, offset: int, limit: int,
                 state: str | None) -> tuple[int, list[tuple[TrialPublic, str | None]]]:
        """(total, [(view, its kept JSON or None)]) of one page."""
        total, stamps, retried_by = store.page_stamps(record, offset=offset, limit=limit,
                                                      state=state)
        found = self._known(stamps)
        if len(found) < len(stamps):
            with self._loading:
                found.update(self._known(stamps))  # kept meanwhile by the request ahead
                self._load([s.trial_id for s in stamps if s.trial_id not in found], store,
                           found)
        entries: list[tuple[TrialPublic, str | None]] = []
        for stamp in stamps:
            entry = found.get(stamp.trial_id)
            if entry is None:
                continue  # deleted between the two reads
            retry = retried_by.get(stamp.number)
            if retry is None:
                entries.append((entry.view, entry.json))
            else:  # the link to a retry is not part of what is kept
                entries.append((entry.view.model_copy(update={"retried_by": retry}), None))
        return total, entries

    def _load(self, trial_ids: list[int], store: StudyStore, found: dict[int, _Kept]) -> None:
        """Build the views of ``trial_ids`` into ``found``, keeping the finished ones."""
        if not trial_ids:
            return
        for trial in store.trials_by_id(trial_ids):
            view = trial_public(trial)
            found[trial._trial_id] = _Kept(view, None)
            # Keyed by what was loaded, not by the stamp: the trial may have finished between
            # the two reads, and a view is kept only once it is final.
            if trial.state.is_finished() and trial.datetime_complete is not None:
                kept = _Kept(view, view.model_dump_json())
                found[trial._trial_id] = kept
                self._keep((trial._trial_id, trial.datetime_complete), kept)

    def _known(self, stamps: Sequence[TrialStamp]) -> dict[int, _Kept]:
        found = {}
        with self._lock:
            for stamp in stamps:
                if not stamp.finished or stamp.completed is None:
                    continue
                kept = self._views.get((stamp.trial_id, stamp.completed))
                if kept is not None:
                    self._views.move_to_end((stamp.trial_id, stamp.completed))
                    found[stamp.trial_id] = kept
        return found

    def _keep(self, key: _Key, kept: _Kept) -> None:
        with self._lock:
            self._views[key] = kept
            self._views.move_to_end(key)
            while len(self._views) > self.capacity:
                self._views.popitem(last=False)


class _Kept(NamedTuple):
    view: TrialPublic
    json: str | None  # None: not kept, serialised when a page needs it
