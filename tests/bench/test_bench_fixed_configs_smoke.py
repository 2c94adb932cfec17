"""bench.fixed_configs on a tiny regression study: every configuration crossed with the
varied values, each seed scored, the ensemble beside, and finished ones read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import fixed_configs
from tests.factories import tiny_spec


def test_fixed_configs_cross_vary_and_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(tiny_spec(budget={"n_trials": 1, "max_epochs": 2})))
    argv = [
        "--spec",
        str(spec),
        "--results",
        str(tmp_path / "runs"),
        "--seeds",
        "0,1",
        "--metric",
        "mse",
        "--vary",
        "readout=last,mean_max",
        "--config",
        json.dumps({"cell": "gru", "hidden_size": 4, "lr": 0.01}),
    ]
    fixed_configs.main(argv)
    saved = sorted((tmp_path / "runs").glob("*.json"))
    rows = [json.loads(path.read_text()) for path in saved]
    assert sorted(row["params"]["readout"] for row in rows) == ["last", "mean_max"]
    for row in rows:
        assert row["seeds"] == [0, 1] and len(row["values"]) == 2
        assert row["mean"] == pytest.approx(sum(row["values"]) / 2)
        assert row["ensemble"] > 0
    table = capsys.readouterr().out
    assert table.count('"readout": "mean_max"') == 2  # the run's log line and its table row
    fixed_configs.main(argv)  # read back, not trained again
    again = capsys.readouterr().out
    assert "seed 0:" not in again and again.count('"readout": "mean_max"') == 1
