"""The HTML report: every panel, the study's own numbers, and a real browser rendering it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from service.worker import Worker
from tests.factories import tiny_spec

PANELS = ["Optimisation history", "Learning curves", "Parameter importance",
          "Parallel coordinates", "Slice: ", "Gradient norm before clipping",
          "Learning rate against the largest gradient norm"]


@pytest.fixture
def finished_study(http: TestClient, sqlite_settings: Settings) -> int:
    """A study where some trials diverge: a plain ReLU RNN with SGD at high learning rates."""
    spec = tiny_spec(
        sampler={"name": "random", "seed": 3},
        search_space={"params": {
            "cell": "rnn", "nonlinearity": "relu", "optimizer": "sgd", "batch_size": 8,
            "hidden_size": {"type": "int", "low": 4, "high": 8},
            "lr": {"type": "float", "low": 1e-3, "high": 8.0, "log": True},
            "grad_clip": {"type": "categorical", "choices": [0.0, 1.0]},
        }},
        pruner={"name": "none"},
        budget={"n_trials": 10, "max_epochs": 5},
    )
    study_id: int = http.post("/v1/studies", json=spec).json()["id"]
    Worker(sqlite_settings, worker_id="report-w", device="cpu").run_forever(max_trials=10)
    return study_id


def report_data(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="rnntune-data">(.*?)</script>',
                      page, re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_report_has_every_panel_and_agrees_with_the_api(
    http: TestClient, finished_study: int
) -> None:
    response = http.get(f"/v1/studies/{finished_study}/report")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    for title in PANELS:
        assert title in page, title
    assert "<script src=" not in page, "self-contained: plotly.js is inline"
    data = report_data(page)
    study = http.get(f"/v1/studies/{finished_study}").json()
    assert data["study"]["trials"] == study["trials"]
    assert data["study"]["best"] == study["best"]
    trials = http.get(f"/v1/studies/{finished_study}/trials").json()["trials"]
    api_states = {t["number"]: ("diverged" if t["prune_reason"] == "diverged" else t["state"])
                  for t in trials}
    assert {t["number"]: t["state"] for t in data["trials"]} == api_states
    diverged = [n for n, s in api_states.items() if s == "diverged"]
    assert [d["number"] for d in data["health"]["diverged"]] == diverged
    assert diverged, "the fixture's high learning rates should make some trials diverge"
    assert sum(g["diverged"] for g in data["health"]["by_lr"]) == len(diverged)
    assert set(data["importance"]) == {"hidden_size", "lr", "grad_clip"}


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_report_renders_in_headless_chromium(
    http: TestClient, finished_study: int, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    page.write_text(http.get(f"/v1/studies/{finished_study}/report").text)
    shot = tmp_path / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=10000"]
    dom = subprocess.run(["chromium", *flags, "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    # plotly draws each figure into an SVG of class main-svg once its script has run.
    assert dom.count('class="main-svg"') >= len(PANELS)
    subprocess.run(["chromium", *flags, "--window-size=1280,4000",
                    f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=False)
    assert shot.exists() and shot.stat().st_size > 50_000
