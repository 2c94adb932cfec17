"""Scripted submission from the CLI: a spec on standard input, a sweep of studies from one
template, and the study list filtered by tag (against a live server)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from service.cli import main
from tests.factories import tiny_spec
from tests.test_cli import server

__all__ = ["server"]  # the live-server fixture, shared with test_cli


def test_submit_reads_the_spec_from_stdin(
    server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = yaml.safe_dump(tiny_spec(name="piped", tags=["from-script"]))
    monkeypatch.setattr("sys.stdin", io.StringIO(spec))
    assert main(["submit", "-", "--url", server, "--json"]) == 0
    study = json.loads(capsys.readouterr().out)
    assert study["name"] == "piped" and study["tags"] == ["from-script"]
    monkeypatch.setattr("sys.stdin", io.StringIO("  \n"))
    assert main(["submit", "-", "--url", server]) == 2
    assert "standard input is empty" in capsys.readouterr().err


def test_sweep_then_status_by_tag(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = ["--url", server]
    spec = tiny_spec()
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(path), "--name", "lr-seeds", "--over", "seed=0,1",
                 "--over", "sampler.seed=7,8", "--tag", "nightly", *url]) == 0
    out, err = capsys.readouterr()
    assert "4 studies tagged 'lr-seeds'" in err
    lines = out.strip().splitlines()
    assert len(lines) == 4 and "lr-seeds-seed-0-seed-7" in lines[0]

    monkeypatch.setattr("sys.stdin", io.StringIO(yaml.safe_dump(spec)))
    assert main(["sweep", "-", "--name", "piped", "--over", "task.seq_len=6", "--json",
                 *url]) == 0
    piped = json.loads(capsys.readouterr().out)
    assert [s["spec"]["task"]["seq_len"] for s in piped["studies"]] == [6]

    assert main(["status", "--tag", "nightly", "--json", *url]) == 0
    tagged = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in tagged] == [
        "lr-seeds-seed-0-seed-7", "lr-seeds-seed-0-seed-8", "lr-seeds-seed-1-seed-7",
        "lr-seeds-seed-1-seed-8"]
    assert [s["spec"]["sampler"]["seed"] for s in tagged] == [7, 8, 7, 8]
    assert main(["status", "--tag", "seed=1", *url]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    assert main(["status", "--tag", "none-such", *url]) == 0
    assert "no studies tagged 'none-such'" in capsys.readouterr().out

    assert main(["sweep", str(path), "--name", "x", *url]) == 2
    assert "needs --over" in capsys.readouterr().err
    assert main(["sweep", str(path), "--name", "x", "--over", "seed", *url]) == 2
    assert "FIELD=V1,V2" in capsys.readouterr().err
    assert main(["sweep", str(path), "--name", "x", "--over", "task.seq_len=8,-1", *url]) == 2
    assert "error: studies.x-seq_len--1.task.seq_len: " in capsys.readouterr().err
