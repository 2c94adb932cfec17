"""Smoke test of bench/scale_workers.py: its quick mode runs end to end on PostgreSQL.

Behaviour only (it runs, reports figures, and no trial is lost, duplicated or stuck); the
timings themselves are not asserted.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from bench import scale_workers

POSTGRES_ADMIN_URL = os.environ.get(
    "RNNTUNE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("RNNTUNE_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="module")
def postgres_server() -> None:
    """Skip (or fail, where PostgreSQL is required) unless the server answers."""
    if not scale_workers.postgres_reachable(POSTGRES_ADMIN_URL):
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but not reachable at {POSTGRES_ADMIN_URL}")
        pytest.skip("PostgreSQL not reachable")


@pytest.mark.postgres
@pytest.mark.timeout(120)
@pytest.mark.usefixtures("postgres_server")
def test_quick_run_reports_figures_and_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = scale_workers.main(["--quick", "--admin-url", POSTGRES_ADMIN_URL,
                                  "--log-dir", str(tmp_path)])
    [result] = results
    assert result.workers == 2 and result.budget == 6
    assert result.status == "completed"
    assert (result.lost, result.duplicated, result.stuck, result.fail) == (0, 0, 0, 0)
    assert result.finished == result.budget == result.trials
    assert result.clean
    assert result.workers_used == 2, "both worker processes should have run trials"
    assert result.trials_per_s > 0 and not math.isnan(result.wait_p50_ms)
    assert result.wait_p99_ms >= result.wait_p50_ms >= 0
    assert result.peak_worker_connections > 0
    out = capsys.readouterr().out
    assert "| workers |" in out and "| 2 | 6/6 |" in out


@pytest.mark.postgres
@pytest.mark.timeout(180)
@pytest.mark.usefixtures("postgres_server")
def test_quick_run_through_pgbouncer_uses_its_pool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench._pgbouncer import pgbouncer_binary

    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed")
    [result] = scale_workers.main(["--quick", "--poolers", "pgbouncer", "--pool-size", "1",
                                   "--admin-url", POSTGRES_ADMIN_URL, "--log-dir", str(tmp_path)])
    assert result.pooler == "pgbouncer" and result.clean
    assert result.finished == result.budget == 6
    # Both workers' transactions ran on the pooler's one server connection.
    assert result.peak_worker_connections == 1
    assert result.busy_cores > 0 and result.trials_per_core_s > 0
    out = capsys.readouterr().out
    assert "| 2 via pgbouncer | 6/6 |" in out and "trials/s per busy core" in out


def test_analysis_counts_lost_duplicated_and_stuck() -> None:
    """The integrity figures flag what they should, without a database."""
    import datetime as dt

    import optuna
    from optuna.trial import TrialState

    t0 = dt.datetime(2026, 1, 1)

    def trial(number: int, state: TrialState, worker: str, start_s: float,
              end_s: float | None) -> optuna.trial.FrozenTrial:
        frozen = optuna.trial.create_trial(state=state, value=1.0 if state.is_finished()
                                           and state != TrialState.FAIL else None,
                                           user_attrs={"worker": worker})
        frozen.number = number
        frozen.datetime_start = t0 + dt.timedelta(seconds=start_s)
        frozen.datetime_complete = (None if end_s is None
                                    else t0 + dt.timedelta(seconds=end_s))
        return frozen

    trials = [
        trial(0, TrialState.COMPLETE, "a", 0.0, 1.0),
        trial(1, TrialState.COMPLETE, "a", 1.5, 2.0),
        trial(1, TrialState.COMPLETE, "b", 0.0, 2.0),  # a repeated number
        trial(2, TrialState.RUNNING, "b", 2.5, None),
    ]
    result = scale_workers.analyse(trials, budget=5)
    assert result.lost == 2  # 3 finished of 5
    assert result.duplicated == 1
    assert result.stuck == 1
    assert result.waits == 1 and result.wait_p50_ms == pytest.approx(500.0)
    assert result.trials_per_s == pytest.approx(3 / 2.0)
    assert not result.clean


def test_write_doc_replaces_only_its_own_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    scale_workers.write_doc(f"{scale_workers.SECTION_TITLE}\n\nfirst\n", doc)
    assert doc.read_text().startswith("# Benchmarks")
    doc.write_text(doc.read_text() + "\n## Other benchmark\n\nkeep me\n")
    scale_workers.write_doc(f"{scale_workers.SECTION_TITLE}\n\nsecond\n", doc)
    text = doc.read_text()
    assert "second" in text and "first" not in text
    assert text.count(scale_workers.SECTION_TITLE) == 1
    assert "## Other benchmark\n\nkeep me\n" in text


def test_saved_runs_are_reused_without_running_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --json, runs already saved are not run again (an interrupted command resumes)."""
    import json
    from dataclasses import asdict

    saved = scale_workers.RunResult(workers=2, budget=6, trials=6, finished=6, complete=6,
                                    status="completed", trials_per_s=3.0, wait_p50_ms=40.0,
                                    wait_p99_ms=90.0, wait_max_ms=95.0,
                                    code=scale_workers.code_version())
    path = tmp_path / "runs.json"
    path.write_text(json.dumps([asdict(saved)]))
    # An unreachable server: the command must not need it.
    [result] = scale_workers.main(["--workers", "2", "--trials-per-worker", "3",
                                   "--quiet-wait", "0", "--json", str(path),
                                   "--log-dir", str(tmp_path), "--admin-url",
                                   "postgresql+psycopg://postgres@127.0.0.1:1/none"])
    assert result.clean and result.trials_per_s == 3.0
    assert "| 2 | 6/6 | 3.0 |" in capsys.readouterr().out
