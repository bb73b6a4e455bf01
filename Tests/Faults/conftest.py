"""Fixtures for the fault tests: the real `charter` binary on a loopback port and a temp database
(a SQLite file, or a new PostgreSQL database from the `postgres_database` fixture).

What it shares with Tests/Fuzz (ports, logs, the binary copy) is in Tests/charter_process.py;
what PostgreSQL needs (the server, a database per test, psql) in Tests/charter_postgres.py.

Environment:
    CHARTER_BIN   the charter executable (default: .build/debug/charter). It is copied, with
                  the SwiftPM resource bundles beside it, into a temp folder once per session,
                  so a rebuild during the run does not swap the binary under the test.
    CHARTER_TEST_POSTGRES_URL   the PostgreSQL server (postgres://user@host:port/db); unset, one
                  is started with scripts/postgres/cluster in /tmp/charter-test-postgres-$UID.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from charter_process import NO_LIMITS, REPO_ROOT, copy_binary, free_port, log_tail, stop_process  # noqa: E402
import charter_postgres  # noqa: E402

READY_TIMEOUT = 60.0
PASSWORD = "crash-test passphrase"

# Lines printed at the end of the session (pytest_terminal_summary), so the figures show
# without `-s`.
SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if SUMMARY:
        terminalreporter.section("charter fault summary")
        for line in SUMMARY:
            terminalreporter.write_line(line)


class Server:
    """One `charter serve` process. A new port on every start (a killed server's port may linger).
    `database` is a SQLite path or a postgres:// URL; `env` is added to the environment."""

    def __init__(self, binary: Path, database: Path | str, log_path: Path, extra: list[str] | None = None,
                 env: dict | None = None):
        self.binary = binary
        self.database = database
        self.log_path = log_path
        self.extra = list(NO_LIMITS if extra is None else extra)
        self.env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        self.port = free_port()
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts} on port {self.port} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--database", str(self.database), *self.extra],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env},
        )
        log.close()
        self.wait_until_ready()
        return self

    def wait_until_ready(self) -> dict:
        deadline = time.monotonic() + READY_TIMEOUT
        last = "no attempt"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"charter exited with status {self.proc.returncode} before becoming ready.\n"
                            f"Server log:\n{log_tail(self.log_path)}")
            try:
                status, _, body = request(self.port, "GET", "/healthz", timeout=2)
                if status == 200:
                    return json.loads(body)
                last = f"HTTP {status}: {body[:200]!r}"
            except (OSError, http.client.HTTPException) as error:
                last = repr(error)
            time.sleep(0.05)
        pytest.fail(f"charter did not answer 200 on /healthz within {READY_TIMEOUT:.0f} s (last: {last}).\n"
                    f"Server log:\n{log_tail(self.log_path)}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL and reap: no shutdown code runs."""
        assert self.alive(), f"server died before it was killed; log:\n{log_tail(self.log_path)}"
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (graceful), SIGKILL if it does not exit in time. Idempotent."""
        if self.proc is None:
            return None
        return stop_process(self.proc, timeout)


def request(port: int, method: str, path: str, body: bytes | dict | None = None,
            headers: dict | None = None, token: str | None = None, timeout: float = 30.0,
            conn: http.client.HTTPConnection | None = None):
    """One HTTP request; returns (status, headers, body bytes). Uses `conn` if given (keep-alive)."""
    headers = dict(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers)
        response = c.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        if own:
            c.close()


def create_organiser_token(binary: Path, database: Path | str, workdir: Path, email: str = "crash@example.org") -> str:
    password_file = workdir / "password"
    password_file.write_text(PASSWORD + "\n")
    subprocess.run([str(binary), "admin", "create-organiser", "--email", email,
                    "--password-file", str(password_file), "--database", str(database)],
                   cwd=REPO_ROOT, check=True, capture_output=True, timeout=120)
    out = subprocess.run([str(binary), "admin", "create-token", "--email", email, "--database", str(database)],
                         cwd=REPO_ROOT, check=True, capture_output=True, text=True, timeout=120).stdout
    match = re.search(r"co_[A-Za-z0-9_\-.]+", out)
    assert match, f"create-token printed no co_ token: {out!r}"
    return match.group(0)


@pytest.fixture(scope="session")
def charter_binary(tmp_path_factory) -> Path:
    try:
        return copy_binary(tmp_path_factory.mktemp("charter-bin"))
    except FileNotFoundError as error:
        pytest.fail(str(error))


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="charter-faults-") as tmp:
        yield Path(tmp)


@pytest.fixture
def charter(charter_binary, workdir):
    """A factory: `charter.server(db)` and `charter.organiser_token(db)`, `db` a SQLite path or a
    postgres:// URL; every server started is stopped at the end of the test. Servers on
    PostgreSQL get CHARTER_SECRET = `charter.secret` (one per test: all of a database's servers
    must sign alike); give several servers on one database each a `name` for its own log."""

    class Factory:
        binary = charter_binary
        servers: list[Server] = []
        secret = secrets.token_hex(32)

        def server(self, database: Path | str, extra: list[str] | None = None, name: str | None = None,
                   env: dict | None = None) -> Server:
            environment = {"CHARTER_SECRET": self.secret} if charter_postgres.is_postgres(database) else {}
            environment.update(env or {})
            log = workdir / f"{name or charter_postgres.log_path_name(database)}.log"
            srv = Server(charter_binary, database, log, extra, environment)
            self.servers.append(srv)
            return srv

        def organiser_token(self, database: Path | str) -> str:
            return create_organiser_token(charter_binary, database, workdir)

        def stop_all(self) -> None:
            for srv in self.servers:
                srv.stop()

        request = staticmethod(request)
        summary = SUMMARY

    factory = Factory()
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The URL of the tests' PostgreSQL server (CHARTER_TEST_POSTGRES_URL, else the cluster in
    /tmp/charter-test-postgres-$UID, started if need be and left running). Skips where
    PostgreSQL cannot be installed."""
    try:
        return charter_postgres.server_url()
    except charter_postgres.PostgresUnavailable as error:
        pytest.skip(str(error))
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
        pytest.fail(f"no PostgreSQL server for the tests: {error}")


@pytest.fixture
def postgres_database(postgres_server, charter):
    """A new, empty PostgreSQL database for this test: its URL. At the end every server the test
    started is stopped first, then the database is dropped."""
    url = charter_postgres.create_database(postgres_server)
    try:
        yield url
    finally:
        charter.stop_all()
        charter_postgres.drop_database(postgres_server, url)
