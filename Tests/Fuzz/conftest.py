"""Fixtures for the fuzz tests: the real `charter` binary on a loopback port with a temp database.

Self-contained on purpose (Tests/Faults has its own copy of the server harness).

Environment:
    CHARTER_BIN   the charter executable (default: .build/debug/charter). It is copied, with the
                  SwiftPM resource bundles beside it, into a temp folder once per session, so a
                  rebuild during the run does not swap the binary under the test.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from charter_process import NO_LIMITS, REPO_ROOT, copy_binary, free_port, log_tail, stop_process  # noqa: E402

READY_TIMEOUT = 60.0
ORGANISER_EMAIL = "fuzz@example.org"
ORGANISER_PASSWORD = "fuzz-test passphrase"

SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if SUMMARY:
        terminalreporter.section("charter fuzz summary")
        for line in SUMMARY:
            terminalreporter.write_line(line)


class Response:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes):
        self.status = status
        self.header_list = headers
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def cookies(self) -> dict[str, str]:
        found = {}
        for name, value in self.header_list:
            if name.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                k, _, v = pair.partition("=")
                found[k.strip()] = v.strip()
        return found

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body)


def raw_request(port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None,
                chunked: bool = False, timeout: float = 30.0) -> Response:
    """Sends exactly these bytes (no normalisation) and reads one response.

    A server may answer (413) and close before it has read a large body; a failed send is then
    ignored and the response read anyway. Raises ConnectionError if no response comes at all.
    """
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    for name, value in (headers or {}).items():
        head.append(f"{name}: {value}")
    if chunked:
        head.append("Transfer-Encoding: chunked")
    elif body or method in ("POST", "PUT", "PATCH"):
        head.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
    if chunked:
        step = 16384
        for i in range(0, len(body), step):
            piece = body[i:i + step]
            data += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        data += b"0\r\n\r\n"
    else:
        data += body
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = http.client.HTTPResponse(sock, method=method)
        try:
            response.begin()
        except (http.client.RemoteDisconnected, ConnectionResetError) as error:
            raise ConnectionError(f"no response: {error!r}") from error
        payload = response.read()
        return Response(response.status, response.getheaders(), payload)
    finally:
        sock.close()


def request(port: int, method: str, path: str, body=None, headers: dict | None = None, token: str | None = None,
            timeout: float = 30.0) -> Response:
    headers = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return raw_request(port, method, path, body or b"", headers, timeout=timeout)


class Server:
    def __init__(self, binary: Path, database: Path, log_path: Path, extra: list[str] | None = None):
        self.binary = binary
        self.database = database
        self.log_path = log_path
        self.extra = list(NO_LIMITS if extra is None else extra)
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        self.port = free_port()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.binary), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--database", str(self.database), *self.extra],
                cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT
        last = "no attempt"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"charter exited with status {self.proc.returncode} before becoming ready.\n"
                            f"Server log:\n{log_tail(self.log_path)}")
            try:
                response = request(self.port, "GET", "/healthz", timeout=2)
                if response.status == 200:
                    return self
                last = f"HTTP {response.status}"
            except OSError as error:
                last = repr(error)
            time.sleep(0.05)
        pytest.fail(f"charter did not answer 200 on /healthz within {READY_TIMEOUT:.0f} s (last: {last}).\n"
                    f"Server log:\n{log_tail(self.log_path)}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        return stop_process(self.proc, timeout)


def create_organiser_token(binary: Path, database: Path, workdir: Path) -> str:
    password_file = workdir / "password"
    password_file.write_text(ORGANISER_PASSWORD + "\n")
    subprocess.run([str(binary), "admin", "create-organiser", "--email", ORGANISER_EMAIL,
                    "--password-file", str(password_file), "--database", str(database)],
                   cwd=REPO_ROOT, check=True, capture_output=True, timeout=120)
    out = subprocess.run([str(binary), "admin", "create-token", "--email", ORGANISER_EMAIL,
                          "--database", str(database)],
                         cwd=REPO_ROOT, check=True, capture_output=True, text=True, timeout=120).stdout
    match = re.search(r"co_[A-Za-z0-9_\-.]+", out)
    assert match, f"create-token printed no co_ token: {out!r}"
    return match.group(0)


def listening_socket_inode(port: int) -> int | None:
    """The inode of the TCP socket listening on `port` (from /proc/net/tcp and tcp6)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                return int(inode)
    return None


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets process `pid` holds open."""
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


@pytest.fixture(scope="session")
def charter_binary(tmp_path_factory) -> Path:
    try:
        return copy_binary(tmp_path_factory.mktemp("charter-bin"))
    except FileNotFoundError as error:
        pytest.fail(str(error))


class Charter:
    """A running server on a fresh database with an organiser and an API token."""

    def __init__(self, server: Server, token: str):
        self.server = server
        self.port = server.port
        self.database = server.database
        self.token = token
        self.email = ORGANISER_EMAIL
        self.password = ORGANISER_PASSWORD
        self.summary = SUMMARY
        self.pid = server.pid  # the process every suite must leave answering

    def assert_same_process_answers(self, after: str) -> int:
        """After a fuzz suite: the process started for it (same PID, never restarted) is still
        running, still holds the listening socket, and answers /healthz with 200. Returns the PID."""
        assert self.server.alive(), (f"the server process (pid {self.pid}) died during {after}, exit status "
                                     f"{self.server.proc.returncode}; log:\n{log_tail(self.server.log_path)}")
        assert self.server.pid == self.pid, f"the server was restarted during {after}: pid {self.pid} -> {self.server.pid}"
        listener = listening_socket_inode(self.port)
        owned = socket_inodes(self.pid)
        assert listener is not None and listener in owned, (
            f"after {after}, port {self.port} is not held by the server process {self.pid} "
            f"(listening inode {listener}, the process holds {sorted(owned)[:10]})")
        response = self.request("GET", "/healthz", timeout=10)
        assert response.status == 200 and response.json().get("status") == "ok", (
            f"/healthz after {after}: HTTP {response.status} {response.body[:300]!r}")
        assert self.server.alive() and self.server.pid == self.pid
        return self.pid

    def request(self, method, path, body=None, headers=None, token=None, **kw) -> Response:
        return request(self.port, method, path, body, headers, token, **kw)

    def raw(self, method, path, body=b"", headers=None, **kw) -> Response:
        return raw_request(self.port, method, path, body, headers, **kw)


@pytest.fixture(scope="module")
def charter(charter_binary, tmp_path_factory, request):
    """A server for the test module. A module may set SERVE_EXTRA, a list of further `charter
    serve` arguments in which "{workdir}" stands for the module's temp folder."""
    workdir = tmp_path_factory.mktemp("charter-fuzz")
    database = workdir / "fuzz.sqlite"
    token = create_organiser_token(charter_binary, database, workdir)
    extra = NO_LIMITS + [a.replace("{workdir}", str(workdir)) for a in getattr(request.module, "SERVE_EXTRA", [])]
    server = Server(charter_binary, database, workdir / "server.log", extra).start()
    try:
        charter = Charter(server, token)
        charter.workdir = workdir
        yield charter
    finally:
        status = server.stop()
        print(f"server log: {server.log_path} (exit status {status})")
