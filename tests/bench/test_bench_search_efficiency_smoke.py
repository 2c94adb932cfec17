"""bench/search_efficiency.py in quick mode runs all three setups and writes its figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench._load import load_script


@pytest.mark.slow
def test_search_efficiency_quick_mode_writes_its_section(tmp_path: Path) -> None:
    module = load_script("search_efficiency")
    doc, kept = tmp_path / "benchmarks.md", tmp_path / "runs.pickle"
    result = module.main(["--quick", "--save", str(kept), "--write-doc", "--doc", str(doc)])
    assert set(result.runs) == {"a", "b", "c"}
    assert all(run.n_finished == result.setup.trials for runs in result.runs.values()
               for run in runs)
    assert all(run.epochs > 0 and run.worker_seconds > 0 for runs in result.runs.values()
               for run in runs)
    text = doc.read_text()
    assert module.SECTION_TITLE in text and "(b) / (a)" in text
    assert "--save" not in text and "--quick --write-doc" in text
    # The kept runs write the same section again without running anything.
    again = tmp_path / "again.md"
    module.main(["--load", str(kept), "--write-doc", "--doc", str(again)])
    assert again.read_text() == text


def test_compute_to_target_counts_trials_in_order_of_completion() -> None:
    import datetime as dt

    import optuna
    from optuna.trial import TrialState

    runs = load_script("_runs")
    t0 = dt.datetime(2026, 1, 1)

    def trial(value: float | None, state: TrialState, start: float, end: float,
              epochs: int) -> optuna.trial.FrozenTrial:
        frozen = optuna.trial.create_trial(
            state=state, value=value, user_attrs={"epochs": [{}] * epochs})
        frozen.datetime_start = t0 + dt.timedelta(seconds=start)
        frozen.datetime_complete = t0 + dt.timedelta(seconds=end)
        return frozen

    run = runs.Run("x", 10.0, [
        trial(0.5, TrialState.COMPLETE, 0, 4, 10),
        trial(None, TrialState.PRUNED, 0, 1, 3),
        trial(0.05, TrialState.COMPLETE, 4, 6, 10),
    ])
    assert run.worker_seconds == 7.0 and run.epochs == 23
    assert run.to_reach(0.1) == (7.0, 23.0)  # the pruned trial ended first and counts too
    assert run.to_reach(0.6) == (5.0, 13.0)
    assert run.to_reach(0.01) == (float("inf"), float("inf"))
    assert run.best_within(worker_seconds=5.0) == 0.5
