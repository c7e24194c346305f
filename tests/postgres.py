"""A real PostgreSQL server for tests and benchmarks: Debian's `postgresql` binaries, `initdb` in a
temporary folder, listening on 127.0.0.1 at a free port only (no Unix socket), stopped at the end.

PostgreSQL refuses to run as root; under root the server runs as the `postgres` system user the
Debian package creates, in a folder handed to that user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tooling.ports import free_port

SERVICE_USER = "postgres"


def postgres_bin() -> Path:
    """The folder holding initdb and pg_ctl (newest Debian version first, else PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed: install Debian's postgresql package (.ci/run does)")
    return Path(initdb).parent


class PostgresServer:
    """One throwaway cluster; `url` reaches its `postgres` database as the superuser, no password."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.data = self.directory / "data"
        self.port = free_port()
        self.bin = postgres_bin()
        self.as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://{SERVICE_USER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", SERVICE_USER, "--"] if self.as_root else []
        return subprocess.run([*prefix, *command], check=check, capture_output=True, text=True, timeout=120)

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            shutil.chown(self.directory, SERVICE_USER, SERVICE_USER)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", SERVICE_USER, "--auth=trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")

    def start(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
                   "-c fsync=off -c max_connections=60 -c shared_buffers=64MB")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")
        self.wait_ready()

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop",
                  check=False)

    def wait_ready(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not listen on 127.0.0.1:{self.port}: {self.log_tail()}")

    def log_tail(self) -> str:
        log = self.directory / "server.log"
        return log.read_text()[-2000:] if log.exists() else ""

    def create_database(self, name: str) -> str:
        """A fresh database on this server; its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def running_postgres(parent: Path | None = None) -> Iterator[PostgresServer]:
    """A started server in a temporary folder, stopped and removed when the block ends."""
    directory = Path(tempfile.mkdtemp(prefix="creditrisk-pg-", dir=parent))
    directory.chmod(0o755)
    server = PostgresServer(directory / "cluster")
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)
