"""Finished trials' views kept between page requests: the same pages as views built afresh,
reused only once final, a retry linked after its failed trial was kept, and a bounded memory;
the page's JSON assembled from kept texts is the page model's own; requests that open the same
unseen page at once load it once; on SQLite and PostgreSQL (the stamp's completion time must
match the loaded one on both)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from fastapi.testclient import TestClient
from optuna.trial import FrozenTrial, TrialState

from service.api import create_app
from service.api._trial_views import TrialViews
from service.api._views import trial_public
from service.schemas import TrialPublic, TrialsPage
from service.store import StudyRecord, StudyStore
from service.store._stale import requeue
from tests.store.test_trial_rows import create, fill


def _fresh(store: StudyStore, record: StudyRecord, **page: int) -> list[TrialPublic]:
    _, trials, retried_by = store.trials_page(record, **page)
    return [trial_public(t, retried_by=retried_by.get(t.number)) for t in trials]


def test_kept_views_are_the_views_built_afresh_and_reused_once_final(
    store: StudyStore,
) -> None:
    record = create(store)
    fill(store.load_study(record))
    views = TrialViews()
    total, first = views.page(store, record, offset=0, limit=100)
    assert total == len(first) == len(store.trials(record))
    assert first == _fresh(store, record, offset=0, limit=100)
    finished = [v for v in first if v.state in ("complete", "pruned", "fail")]
    assert len(views) == len(finished) >= 6
    _, second = views.page(store, record, offset=0, limit=100)
    assert second == first
    for before, after in zip(first, second, strict=True):
        if before.state in ("complete", "pruned") and before.retried_by is None:
            assert after is before, f"trial {before.number}: finished, so reused"
        if before.state in ("running", "waiting"):
            assert after is not before, f"trial {before.number}: not final, so built again"


def test_a_trial_that_finishes_shows_its_final_state(store: StudyStore) -> None:
    record = create(store)
    study = store.load_study(record)
    trial = study.ask()
    trial.suggest_float("lr", 1e-3, 1e-1, log=True)
    views = TrialViews()
    _, page = views.page(store, record, offset=0, limit=10)
    assert [v.state for v in page] == ["running"] and len(views) == 0
    trial.report(0.3, 1)
    study.tell(trial, 0.25)
    _, page = views.page(store, record, offset=0, limit=10)
    assert [(v.state, v.value) for v in page] == [("complete", 0.25)]
    assert page == _fresh(store, record, offset=0, limit=10) and len(views) == 1


def test_a_failed_trial_kept_before_its_retry_links_to_it_after(store: StudyStore) -> None:
    record = create(store)
    study = store.load_study(record)
    failed = study.ask()
    failed.suggest_float("lr", 1e-3, 1e-1, log=True)
    study.tell(failed, state=TrialState.FAIL)
    views = TrialViews()
    _, page = views.page(store, record, offset=0, limit=10)
    assert [(v.state, v.retried_by) for v in page] == [("fail", None)] and len(views) == 1
    requeue(study, study.trials[failed.number])
    _, page = views.page(store, record, offset=0, limit=10)
    assert [(v.number, v.state) for v in page] == [(0, "fail"), (1, "waiting")]
    assert page[0].retried_by == 1 and page[1].retry_of == 0
    assert page == _fresh(store, record, offset=0, limit=10)


def test_kept_views_are_bounded(store: StudyStore) -> None:
    record = create(store)
    fill(store.load_study(record))
    views = TrialViews(capacity=3)
    _, page = views.page(store, record, offset=0, limit=100)
    assert len(views) == 3
    _, again = views.page(store, record, offset=0, limit=100)
    assert again == page == _fresh(store, record, offset=0, limit=100)


def test_the_trials_route_serves_the_kept_views(store: StudyStore) -> None:
    record = create(store)
    fill(store.load_study(record))
    with TestClient(create_app(store.settings)) as client:
        pages = [client.get(f"/v1/studies/{record.id}/trials", params={"limit": 4, "offset": 2})
                 for _ in range(2)]
        complete = client.get(f"/v1/studies/{record.id}/trials", params={"state": "complete"})
    expected = [v.model_dump(mode="json") for v in _fresh(store, record, offset=2, limit=4)]
    for response in pages:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["total"] == len(store.trials(record)) and body["offset"] == 2
        assert body["trials"] == expected
    assert complete.status_code == 200
    assert {t["state"] for t in complete.json()["trials"]} == {"complete"}


def _fresh_json(store: StudyStore, record: StudyRecord, *, offset: int, limit: int) -> str:
    total = len(store.trials(record))
    return TrialsPage(total=total, offset=offset, limit=limit,
                      trials=_fresh(store, record, offset=offset, limit=limit)).model_dump_json()


def test_a_page_from_kept_json_is_the_page_models_json(store: StudyStore) -> None:
    record = create(store)
    study = store.load_study(record)
    fill(study)
    failed = study.ask()
    failed.suggest_float("lr", 1e-3, 1e-1, log=True)
    study.tell(failed, state=TrialState.FAIL)
    views = TrialViews()
    first = views.page_json(store, record, offset=1, limit=100)  # nothing kept yet
    assert first == _fresh_json(store, record, offset=1, limit=100)
    assert views.page_json(store, record, offset=1, limit=100) == first  # from kept texts
    requeue(study, study.trials[failed.number])  # the kept failed trial now links its retry
    linked = views.page_json(store, record, offset=0, limit=100)
    assert linked == _fresh_json(store, record, offset=0, limit=100)
    assert f'"retried_by":{failed.number + 1}' in linked
    assert views.page_json(store, record, offset=0, limit=3) == _fresh_json(
        store, record, offset=0, limit=3)


def test_requests_opening_an_unseen_page_at_once_load_it_once(store: StudyStore) -> None:
    record = create(store)
    fill(store.load_study(record))
    loads: list[list[int]] = []
    first_loading, first_may_end = threading.Event(), threading.Event()
    real_load = store.trials_by_id

    def load_and_hold_the_first(trial_ids: Sequence[int]) -> list[FrozenTrial]:
        loads.append(list(trial_ids))
        if len(loads) == 1:
            first_loading.set()
            first_may_end.wait(timeout=10)  # the second request arrives meanwhile
        return real_load(trial_ids)

    store.trials_by_id = load_and_hold_the_first  # type: ignore[method-assign]
    views = TrialViews()
    pages: list[str] = []
    requests = [threading.Thread(
        target=lambda: pages.append(views.page_json(store, record, offset=0, limit=100)))
        for _ in range(2)]
    requests[0].start()
    assert first_loading.wait(timeout=10)
    requests[1].start()
    requests[1].join(timeout=0.5)  # waits for the first rather than loading the same trials
    first_may_end.set()
    for request in requests:
        request.join(timeout=10)
    finished = [t._trial_id for t in store.trials(record) if t.state.is_finished()]
    assert loads[0] == sorted(t._trial_id for t in store.trials(record))
    assert all(set(ids).isdisjoint(finished) for ids in loads[1:]), loads
    assert len(pages) == 2 and pages[0] == pages[1] == _fresh_json(store, record, offset=0,
                                                                   limit=100)
