"""The report's final-evaluation section: test metric per seed beside the baselines."""

from __future__ import annotations

from datetime import UTC, datetime

from service.report import build_report
from service.schemas import StudyPublic


def _study(**evaluation: object) -> StudyPublic:
    return StudyPublic.model_validate({
        "id": 7, "name": "sun", "status": "completed", "task": "sunspots",
        "objective": {"metric": "val_mse", "direction": "minimize"},
        "budget": {"n_trials": 30, "max_epochs": 5}, "search_trials": 24, "trials": {},
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "spec": {"objective": {"metric": "val_mse"}},
        "evaluation": {"status": "done", **evaluation},
    })


def test_final_section_plots_each_seed_beside_each_baseline() -> None:
    study = _study(
        trial=3, runs=[{"seed": 0, "status": "completed", "test": {"mse": 281.5}},
                       {"seed": 1, "status": "completed", "test": {"mse": 297.25}}],
        baselines=[{"name": "ar10", "metric": "val_mse", "value": 214.0, "test_value": 310.7,
                    "description": "AR"},
                   {"name": "naive", "metric": "mse", "value": 374.0, "test_value": 920.7,
                    "description": "last value"},
                   {"name": "naive", "metric": "mae", "value": 1.0, "test_value": 2.0,
                    "description": "last value"}],
        verdict="test mse 289.4 beats the best baseline, ar10 (310.7)",
        selection={"metric": "val_mse", "seeds": [0, 1], "winner": 3, "runs": 2,
                   "reason": "trial 3 has the best val_mse mean",
                   "candidates": [{"trial": 3, "params": {}, "values": [200.0, 210.0],
                                   "mean": 205.0},
                                  {"trial": 5, "params": {}, "values": [190.0, 260.0],
                                   "mean": 225.0}]},
    )
    page = build_report(study, [], None)
    section = page[page.index("<h2>Final evaluation</h2>"):page.index("<h2>Search</h2>")]
    assert "Final evaluation: test mse per seed and baselines" in section
    assert "281.5" in section and "297.25" in section
    assert "ar10 (baseline)" in section and "naive (baseline)" in section
    assert "310.7" in section and "920.7" in section
    assert "beats the best baseline" in section
    assert "trial 3 has the best val_mse mean" in section and "225" in section


def test_no_final_section_before_the_evaluation_is_done() -> None:
    study = _study()
    study.evaluation.status = "running"  # type: ignore[union-attr]
    assert "<h2>Final evaluation</h2>" not in build_report(study, [], None)


def test_cli_lines_show_the_candidates_the_winner_and_the_verdict() -> None:
    from service.cli._format import evaluation_lines

    study = _study(
        trial=3, runs=[{"seed": 0, "status": "completed", "test": {"mse": 281.5}}],
        seeds={"metric": "test_mse", "seeds": [0], "mean": 281.5, "values": [281.5]},
        verdict="test mse 281.5 beats the best baseline, ar10 (310.7)",
        baselines=[{"name": "ar10", "metric": "mse", "value": 214.0, "test_value": 310.7,
                    "description": "AR"},
                   {"name": "ar10", "metric": "val_mae", "value": 11.0, "test_value": 13.0,
                    "description": "AR"}],
        selection={"metric": "val_mse", "seeds": [0, 1], "winner": 3, "runs": 2,
                   "reason": "trial 3 has the best val_mse mean",
                   "candidates": [{"trial": 3, "params": {}, "values": [200.0, 210.0],
                                   "mean": 205.0},
                                  {"trial": 5, "params": {}, "values": [190.0, 260.0],
                                   "mean": 225.0}]},
    )
    lines = evaluation_lines(study)
    assert not any("ar10 mae" in line for line in lines), "only the objective's metric"
    assert "selection over seeds [0, 1], validation holdout (2 re-runs in the budget):" in lines
    assert " * trial 3: val_mse mean 205 std - [200, 210]" in lines
    assert "   trial 5: val_mse mean 225 std - [190, 260]" in lines
    assert "chosen: trial 3 has the best val_mse mean" in lines
    assert "verdict: test mse 281.5 beats the best baseline, ar10 (310.7)" in lines
    assert any(line.startswith("baseline ar10 mse: val 214, test 310.7") for line in lines)


def test_the_seed_ensemble_shows_in_the_report_and_the_cli() -> None:
    from service.cli._format import evaluation_brief, evaluation_lines

    study = _study(
        trial=3, test={"mse": 281.5},
        runs=[{"seed": 0, "status": "completed", "test": {"mse": 281.5}},
              {"seed": 1, "status": "completed", "test": {"mse": 297.25}}],
        seeds={"metric": "test_mse", "seeds": [0, 1], "mean": 289.375, "std": 11.1,
               "values": [281.5, 297.25]},
        ensemble={"seeds": [0, 1], "test": {"mse": 266.125, "mae": 12.5}},
    )
    page = build_report(study, [], None)
    section = page[page.index("<h2>Final evaluation</h2>"):page.index("<h2>Search</h2>")]
    assert "ensemble of seeds [0, 1]" in section and "266.1" in section
    assert "seed ensemble, test mse" in section, "a point of its own in the chart"
    lines = evaluation_lines(study)
    assert ("test (ensemble of seeds [0, 1], the model served): mse=266.125 mae=12.5"
            in lines), lines
    assert evaluation_brief(study).endswith("(n=2) ensemble 266.125")
