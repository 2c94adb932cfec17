"""docker-compose.yml agrees with the CLI and settings (there is no Docker engine to run it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from service.cli import build_parser
from service.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def load() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_services_exist_and_share_one_database() -> None:
    services = load()["services"]
    assert {"postgres", "pgbouncer", "api", "worker", "dashboard"} <= set(services)
    url = services["api"]["environment"]["RNNTUNE_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://") and "@postgres:5432/" in url
    assert url in services["dashboard"]["command"]
    # The workers reach the same database, as the same user, through the pooler.
    worker_url = services["worker"]["environment"]["RNNTUNE_DATABASE_URL"]
    assert worker_url == url.replace("@postgres:5432/", "@pgbouncer:6432/")


def test_workers_go_through_pgbouncer_in_transaction_mode() -> None:
    services = load()["services"]
    pooler = services["pgbouncer"]["environment"]
    assert pooler["POOL_MODE"] == "transaction"
    assert pooler["LISTEN_PORT"] == "6432"
    api_url = services["api"]["environment"]["RNNTUNE_DATABASE_URL"]
    server = pooler["DATABASE_URL"]
    # The pooler logs in to the API's database as the API does.
    assert server.split("://", 1)[1] == api_url.split("://", 1)[1]
    # Its server connections, the API's and the dashboard's fit PostgreSQL's default 100.
    assert int(pooler["DEFAULT_POOL_SIZE"]) <= 60
    assert int(pooler["MAX_CLIENT_CONN"]) >= 1000
    worker = services["worker"]
    assert worker["environment"]["RNNTUNE_DB_TRANSACTION_POOLER"] == "true"
    assert Settings(**{k.removeprefix("RNNTUNE_").lower(): v
                       for k, v in worker["environment"].items()}).db_transaction_pooler
    assert "pgbouncer" in worker["depends_on"]
    assert services["pgbouncer"]["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_postgres_has_a_health_check_and_a_volume() -> None:
    compose = load()
    postgres = compose["services"]["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    for name in ("api", "worker", "dashboard"):
        assert compose["services"][name]["depends_on"]["postgres"] == {
            "condition": "service_healthy"
        }


def test_commands_parse_with_the_cli_and_settings_accept_the_environment() -> None:
    services = load()["services"]
    parser = build_parser()
    for name in ("api", "worker"):
        command = services[name]["command"]
        assert command[0] == "rnntune"
        args = parser.parse_args(command[1:])
        assert args.command == command[1]
    api_args = parser.parse_args(services["api"]["command"][1:])
    assert api_args.host == "0.0.0.0" and api_args.workers == 0
    environment = {k.removeprefix("RNNTUNE_").lower(): v
                   for k, v in services["worker"]["environment"].items()}
    settings = Settings(**environment)
    assert settings.grace_period_s >= 2 * settings.heartbeat_interval_s


def test_api_needs_a_key_and_the_raw_dashboard_stays_on_loopback() -> None:
    services = load()["services"]
    assert "RNNTUNE_BOOTSTRAP_ADMIN_KEY" in services["api"]["environment"]
    assert all(port.startswith("127.0.0.1:") for port in services["dashboard"]["ports"])


def test_worker_service_can_scale() -> None:
    worker = load()["services"]["worker"]
    # `--scale worker=N` needs no fixed container name and no published port.
    assert "container_name" not in worker and "ports" not in worker


def test_services_restart_and_the_api_reports_its_health() -> None:
    services = load()["services"]
    for name in ("api", "worker", "dashboard", "pgbouncer"):
        assert services[name]["restart"] == "unless-stopped", name
    check = " ".join(services["api"]["healthcheck"]["test"])
    assert "/healthz" in check and ":8000" in check
