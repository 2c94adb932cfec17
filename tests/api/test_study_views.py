"""Studies' JSON kept between study-list requests: the same page as views built afresh,
reused while the study's row and trial summary are unchanged, built again when either
changes (a trial ends, the study is cancelled), bounded in memory; rows read undecoded
decode to the records the store reads, on SQLite and PostgreSQL (whose JSON columns are read
through a cast to text)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.api._study_views import StudyViews
from service.api._views import study_public_from_summary
from service.schemas import StudySummaryList
from service.store import StudyStore
from tests.factories import create_study, start_trial, tiny_spec


def _fresh_page(store: StudyStore, **filters: str) -> str:
    records = store.list_studies(**filters)
    summaries = store.summaries(records)
    return StudySummaryList(
        studies=[study_public_from_summary(r, summaries[r.id]) for r in records],
        total=len(records), offset=0, limit=100,
    ).model_dump_json()


def _kept_page(store: StudyStore, views: StudyViews, **filters: str) -> str:
    rows = store.study_rows(**filters)
    return views.page_json(rows, store.summaries(rows), total=len(rows), offset=0, limit=100)


def _study_json(store: StudyStore, views: StudyViews, study_id: int) -> str:
    [row] = [r for r in store.study_rows() if r.id == study_id]
    return views.study_json(row, store.summaries([row])[study_id])


def test_rows_read_undecoded_decode_to_the_records_read(store: StudyStore) -> None:
    create_study(store, name="plain")
    create_study(store, name="tagged", tags=["a", "b"], also_minimize=["params"])
    rows = store.study_rows()
    # ``get`` reads through the columns' own JSON decoding, not the rows'.
    assert [row.record() for row in rows] == [store.get(row.id) for row in rows]
    assert len(rows) == 2
    assert store.study_rows() == store.study_rows()  # equal when read again


def test_the_kept_page_is_the_page_built_afresh(store: StudyStore) -> None:
    create_study(store, name="queued")
    running = create_study(store, name="running")
    study, number = start_trial(store, running)
    study.tell(number, 0.25)
    store.cancel(create_study(store, name="cancelled").id)
    views = StudyViews()
    assert _kept_page(store, views) == _fresh_page(store)
    assert len(views) == 3
    assert _kept_page(store, views) == _fresh_page(store)  # from the kept texts
    assert _kept_page(store, views, status="cancelled") == _fresh_page(store, status="cancelled")


def test_a_kept_study_is_reused_until_its_row_or_summary_changes(store: StudyStore) -> None:
    record = create_study(store, budget={"n_trials": 3, "max_epochs": 1})
    views = StudyViews()
    first = _study_json(store, views, record.id)
    assert _study_json(store, views, record.id) is first  # unchanged: the kept text
    study, number = start_trial(store, record)  # a claim: the row changes
    running = _study_json(store, views, record.id)
    assert running != first and '"running":1' in running
    study.tell(number, 0.125)  # the summary changes: counts and best
    finished = _study_json(store, views, record.id)
    assert '"complete":1' in finished and '"value":0.125' in finished
    store.cancel(record.id)
    cancelled = _study_json(store, views, record.id)
    assert '"status":"cancelled"' in cancelled
    assert _kept_page(store, views) == _fresh_page(store)


def test_kept_studies_are_bounded(store: StudyStore) -> None:
    for index in range(5):
        create_study(store, name=f"s{index}")
    views = StudyViews(capacity=3)
    _kept_page(store, views)
    assert len(views) == 3
    assert _kept_page(store, views) == _fresh_page(store)


def test_the_study_list_shows_a_cancel_at_once(http: TestClient) -> None:
    created = http.post("/v1/studies", json=tiny_spec(name="listed")).json()
    listed = http.get("/v1/studies").json()["studies"]
    assert [(s["name"], s["status"]) for s in listed] == [("listed", "queued")]
    assert http.post(f"/v1/studies/{created['id']}/cancel").status_code == 200
    listed = http.get("/v1/studies").json()["studies"]
    assert [(s["name"], s["status"]) for s in listed] == [("listed", "cancelled")]
    assert http.get("/v1/studies", params={"status": "queued"}).json()["studies"] == []
