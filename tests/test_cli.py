"""The rnntune CLI against a live API server (uvicorn in a thread) and a real worker."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
import yaml

from service.api import create_app
from service.cli import main
from service.config import Settings
from service.worker import Worker
from tests.factories import tiny_spec


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(sqlite_settings: Settings) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(create_app(sqlite_settings), host="127.0.0.1", port=port,
                            log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not instance.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)


def write_spec(tmp_path: Path, **overrides: object) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(**overrides)))
    return path


def test_submit_wait_status_trials_best(
    server: str, sqlite_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, name="cli-study", budget={"n_trials": 2, "max_epochs": 1})
    worker = Worker(sqlite_settings, worker_id="cli-w", device="cpu")
    runner = threading.Thread(target=worker.run_forever, kwargs={"max_trials": 2})
    runner.start()
    assert main(["submit", str(spec), "--wait", "--poll", "0.2", "--url", server]) == 0
    runner.join(timeout=60)
    out, err = capsys.readouterr()
    assert "submitted study 1" in err
    assert "complete=2" in err  # the progress bar's last state
    assert "cli-study" in out and "completed" in out and "2/2" in out

    assert main(["status", "--url", server, "--json"]) == 0
    [study] = json.loads(capsys.readouterr().out)
    assert study["trials"]["finished"] == 2 and study["status"] == "completed"

    assert main(["trials", "1", "--url", server]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("complete" in line for line in lines)

    assert main(["best", "1", "--url", server]) == 0
    out = capsys.readouterr().out
    assert f"#{study['best']['number']}" in out and "predict_one" in out


def test_cancel_delete_and_errors(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path)
    assert main(["submit", str(spec), "--url", server]) == 0
    capsys.readouterr()
    assert main(["cancel", "1", "--url", server]) == 0
    assert "cancelled" in capsys.readouterr().out
    assert main(["delete", "1", "--url", server]) == 0
    assert main(["status", "1", "--url", server]) == 2
    assert "does not exist" in capsys.readouterr().err

    bad = write_spec(tmp_path, sampler={"name": "bayes"})
    assert main(["submit", str(bad), "--url", server]) == 2
    err = capsys.readouterr().err
    assert "unknown sampler 'bayes'" in err and "tpe" in err and "sampler.name" in err
    assert main(["submit", str(tmp_path / "missing.yaml"), "--url", server]) == 2


def test_catalog_commands(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "--url", server]) == 0
    assert "adding" in capsys.readouterr().out
    assert main(["spaces", "--url", server]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("rnn", "lstm", "gru", "mixed"))


def test_unreachable_server_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--url", f"http://127.0.0.1:{free_port()}"]) == 1
    assert "cannot reach rnntune" in capsys.readouterr().err


def test_db_upgrade_and_current(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert main(["db", "current", "--database-url", url]) == 0
    assert "revision none" in capsys.readouterr().out
    assert main(["db", "upgrade", "--database-url", url]) == 0
    out = capsys.readouterr().out
    assert "revision none" not in out and "newest" in out
    revision = out.split("revision ")[1].split(" ")[0]
    assert f"(newest {revision})" in out


def test_importance_and_enqueue_commands(
    server: str, sqlite_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, search_space="lstm-gru", budget={"n_trials": 6, "max_epochs": 1})
    assert main(["submit", str(spec), "--url", server]) == 0
    assert main(["enqueue", "1", "--best-practice", "--params", '{"cell": "gru", "lr": 0.004}',
                 "--url", server]) == 0
    out = capsys.readouterr().out
    assert "queued (user): cell=gru lr=0.004" in out
    assert out.count("queued (best-practice)") == 2
    assert main(["enqueue", "1", "--params", '{"cell": "rnn"}', "--url", server]) == 2
    assert "outside" in capsys.readouterr().err
    Worker(sqlite_settings, worker_id="cli-w", device="cpu").run_forever(max_trials=6)
    assert main(["importance", "1", "--url", server]) == 0
    out = capsys.readouterr().out
    assert "PedAnovaImportanceEvaluator over 6 completed trials" in out
    assert "  lr " in out
    assert "note:" not in out, "the spec's random sampler gives unbiased importances"
