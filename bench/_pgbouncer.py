"""A throw-away PgBouncer in transaction mode in front of a local PostgreSQL server.

Used by the scale benchmark and the pooler test: many worker processes connect to the pooler,
which runs their transactions on a few server connections. It listens on a free loopback port,
trusts local clients (like the test server behind it) and is stopped with its folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import psycopg

__all__ = ["PgBouncer", "pgbouncer_binary"]

_BINARIES = ("pgbouncer", "/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")


def pgbouncer_binary() -> str | None:
    """The pgbouncer executable (Debian installs it in /usr/sbin), or None."""
    for name in _BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgBouncer:
    """``with PgBouncer(server_url, pool_size=20) as pooler: pooler.url_for(db_url)``."""

    def __init__(self, server_url: str, *, pool_size: int = 20, max_clients: int = 1000) -> None:
        parts = urlsplit(server_url)
        self._server_host = parts.hostname or "127.0.0.1"
        self._server_port = parts.port or 5432
        self.user = parts.username or "postgres"
        self.pool_size = pool_size
        self.max_clients = max_clients
        self.port = _free_port()
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PgBouncer:
        binary = pgbouncer_binary()
        if binary is None:
            raise RuntimeError("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
        self._dir = Path(tempfile.mkdtemp(prefix="rnntune-pgbouncer-"))
        self._dir.chmod(0o755)  # readable by the user pgbouncer drops to when started as root
        (self._dir / "userlist.txt").write_text(f'"{self.user}" ""\n')
        (self._dir / "pgbouncer.ini").write_text(self.config())
        for path in self._dir.iterdir():
            path.chmod(0o644)
        command = [binary, str(self._dir / "pgbouncer.ini")]
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            command[1:1] = ["-u", "postgres"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                         stderr=open(self._dir / "pgbouncer.log", "wb"))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.log()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.5):
                return self
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError("pgbouncer did not start listening within 15 s")

    def __exit__(self, _type: type[BaseException] | None, _value: BaseException | None,
                 _tb: TracebackType | None) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def config(self) -> str:
        """Transaction pooling: a client holds a server connection only inside a transaction."""
        return "\n".join([
            "[databases]",
            f"* = host={self._server_host} port={self._server_port}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {self._dir}/userlist.txt",
            f"admin_users = {self.user}",
            "pool_mode = transaction",
            f"default_pool_size = {self.pool_size}",
            f"max_client_conn = {self.max_clients}",
            # Clients wait for a free server connection instead of being refused.
            "query_wait_timeout = 120",
            "server_reset_query =",
            "ignore_startup_parameters = extra_float_digits,options",
            "",
        ])

    def url_for(self, database_url: str) -> str:
        """``database_url`` (same user and database) through this pooler."""
        parts = urlsplit(database_url)
        netloc = f"{parts.username or self.user}@127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def clients(self, database: str) -> int:
        """Client connections to ``database`` that the pooler holds (its admin console)."""
        conninfo = f"host=127.0.0.1 port={self.port} dbname=pgbouncer user={self.user}"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            # The admin console speaks only the simple query protocol.
            result = conn.pgconn.exec_(b"SHOW CLIENTS")
            columns = [result.fname(i) for i in range(result.nfields)]
            column = columns.index(b"database")
            return sum(1 for row in range(result.ntuples)
                       if (result.get_value(row, column) or b"").decode() == database)

    def log(self) -> str:
        if self._dir is None:
            return ""
        with contextlib.suppress(OSError):
            return (self._dir / "pgbouncer.log").read_text(errors="replace")
        return ""
