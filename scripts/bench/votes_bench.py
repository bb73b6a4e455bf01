#!/usr/bin/env python3
"""Vote throughput benchmark and soak for Charter (driven by scripts/bench/votes and scripts/bench/soak).

votes: measures the SQLite limit (sqlite_limit.py, same disk, same schema), starts `charter serve`
on loopback with a fresh database and every rate limit off, makes a conversation with
--statements statements and --participants participants through the API (their tokens saved to
a file), then drives POST /api/v1/conversations/{slug}/votes with wrk (votes.lua: no
(participant, statement) pair repeats in the whole benchmark) at each connection count for
--duration seconds, and measures reads (GET /c/{slug}?xid=…, GET …/next) idle and while a vote
round runs. Prints Markdown tables. The page reads come from the browsers that bound their panel
ids (conversations default to xid_policy `bound`: another browser with the same xid gets 403).

With --database URL (a PostgreSQL server; `start` starts a throw-away cluster with
scripts/postgres/cluster and stops it at the end), the same measurement then runs against
Charter on PostgreSQL, with one server and with two servers sharing the database (the load split
across both: one wrk each, half the connections each), each in a fresh database made on that
server through psql and dropped afterwards, and against PostgreSQL's own limit for the same rows
(postgres_limit.py, in a fresh database too). One table then compares them all.

soak: the same set-up, then a set vote load (--rate votes/s over --connections connections) for
N minutes, sampling the server's RSS (VmRSS of /proc/PID/status) every --sample seconds.

The binary is $CHARTER_BIN (the bash wrappers set it).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import math
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LUA = HERE / "votes.lua"
SLUG = "bench"
PASSWORD = "benchmark passphrase"


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (utime, stime of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def postgres_cpu_seconds(postmaster: int) -> float:
    """User + system CPU time of a PostgreSQL cluster: the postmaster's own and its reaped
    children's (utime, stime, cutime, cstime), plus that of its live children (the backends)."""
    with open(f"/proc/{postmaster}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile: its time is in the postmaster's cutime, cstime
        if int(fields[1]) == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / TICKS


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """A keep-alive JSON client for one thread."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body=None, token: str | None = None) -> tuple[int, object]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                return response.status, (json.loads(payload) if payload else None)
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def bind_reader(port: int, xid: str) -> str:
    """Opens the participant page with `xid` as a new browser; returns the charter_browser cookie
    the xid is now bound to (its value), after checking that the page answers that browser."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        path = f"/c/{SLUG}?xid={urllib.parse.quote(xid)}"
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"GET {path}: {response.status} {body[:300]!r}")
        cookie = None
        for header in response.msg.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            if name.strip() == "charter_browser":
                cookie = rest.split(";", 1)[0]
        if not cookie:
            raise SystemExit(f"GET {path} set no charter_browser cookie")
        conn.request("GET", path, headers={"Cookie": f"charter_browser={cookie}"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"GET {path} again from the same browser: {response.status} {body[:300]!r}")
        return cookie
    finally:
        conn.close()


def wait_until_serving(proc: subprocess.Popen, port: int, method: str, path: str, status: int, what: str,
                       timeout: float) -> None:
    """Returns once `method path` on `port` answers `status`; fails when `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited ({proc.returncode})")
        client = Client(port)
        try:
            if client.call(method, path, {} if method == "POST" else None)[0] == status:
                return
        except OSError:
            pass
        finally:
            client.conn.close()
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not answer in {timeout:g} s")
        time.sleep(0.1)


def stop_process(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def psql_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    if os.access(f"/usr/lib/postgresql/15/bin/{name}", os.X_OK):
        return f"/usr/lib/postgresql/15/bin/{name}"
    raise SystemExit(f"no {name} (Debian package postgresql-client)")


def psql(url: str, *commands: str) -> list[list[str]]:
    """Runs SQL commands through psql in one session; the output rows, fields split on |."""
    argv = [psql_tool("psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url]
    for command in commands:
        argv += ["-c", command]
    run = subprocess.run(argv, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"psql {commands}: {run.stderr.strip()}")
    return [line.split("|") for line in run.stdout.splitlines() if line]


def database_url(url: str, name: str) -> str:
    """`url` naming database `name` instead."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def find_postmaster(url: str) -> int | None:
    """The PID of the PostgreSQL server behind `url` when it runs on this machine (the parent of
    its checkpointer), so its CPU time can be read; None when it runs elsewhere."""
    try:
        rows = psql(url, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
        pid = int(rows[0][0])
        with open(f"/proc/{pid}/comm") as f:
            if not f.read().startswith("postgres"):
                return None
        with open(f"/proc/{pid}/status") as f:
            parent = int(next(line.split()[1] for line in f if line.startswith("PPid:")))
        with open(f"/proc/{parent}/comm") as f:
            return parent if f.read().startswith("postgres") else None
    except (SystemExit, OSError, IndexError, ValueError, StopIteration):
        return None


class PostgresServer:
    """The PostgreSQL server --database names: a URL, or `start`, a throw-away cluster of
    scripts/postgres/cluster in /tmp/charter-bench-postgres-$UID, stopped by that script at the
    end (when this run started it). Each measurement gets a fresh database, dropped after."""

    def __init__(self, spec: str):
        self.spec = spec
        self.cluster_dir = f"/tmp/charter-bench-postgres-{os.getuid()}"
        self.started = False
        self.url = spec
        self.databases: list[str] = []
        self.log_path: Path | None = None
        self.log_offset = 0

    def start(self) -> None:
        if self.spec != "start":
            return
        log(f"starting a PostgreSQL cluster in {self.cluster_dir} (scripts/postgres/cluster)")
        run = subprocess.run([str(REPO / "scripts/postgres/cluster"), "start", self.cluster_dir],
                             capture_output=True, text=True)
        sys.stderr.write(run.stderr)
        if run.returncode != 0:
            raise SystemExit(f"scripts/postgres/cluster start failed ({run.returncode})")
        self.url = run.stdout.strip().splitlines()[-1]
        # A cluster this run found running is someone's: it is left as it was.
        self.started = "already running" not in run.stderr
        self.log_path = Path(self.cluster_dir) / "log"
        try:
            self.log_offset = self.log_path.stat().st_size
        except OSError:
            self.log_path = None

    def log_summary(self) -> dict | None:
        """The cluster's log since this run started it (only for `start`): its ERROR, FATAL,
        PANIC and WARNING lines."""
        if not self.log_path:
            return None
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset)
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return None
        counts: dict[str, int] = {}
        first: dict[str, str] = {}
        for line in lines:
            match = re.search(r"\b(ERROR|FATAL|PANIC|WARNING):", line)
            if match:
                counts[match.group(1)] = counts.get(match.group(1), 0) + 1
                first.setdefault(match.group(1), line[:300])
        return {"lines": len(lines), "counts": counts, "first": first}

    def create_database(self, purpose: str) -> str:
        name = f"charter_bench_{os.getpid()}_{purpose}"
        psql(self.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return database_url(self.url, name)

    def drop_database(self, url: str) -> None:
        name = urllib.parse.urlsplit(url).path.lstrip("/")
        try:
            psql(self.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.databases.remove(name)
        except SystemExit as error:
            log(f"could not drop database {name}: {error}")

    def close(self) -> None:
        for name in list(self.databases):
            self.drop_database(database_url(self.url, name))
        if self.started:
            log(f"stopping the PostgreSQL cluster in {self.cluster_dir}")
            subprocess.run([str(REPO / "scripts/postgres/cluster"), "stop", self.cluster_dir])
        elif self.spec == "start":
            log(f"the PostgreSQL cluster in {self.cluster_dir} was running before: left running")


class Bench:
    """One Charter set-up: a SQLite file in the work folder, or (`url`) a PostgreSQL database that
    `servers` servers share."""

    def __init__(self, args, url: str | None = None, servers: int = 1, workdir: Path | None = None):
        self.args = args
        self.binary = Path(os.environ.get("CHARTER_BIN", REPO / ".build/release/charter")).resolve()
        if not os.access(self.binary, os.X_OK):
            raise SystemExit(f"charter binary not found: {self.binary}")
        self.own_workdir = workdir is None and not args.workdir
        self.workdir = Path(workdir or args.workdir or tempfile.mkdtemp(prefix="charter-bench-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.server_count = servers if url else 1
        self.database = url or self.workdir / "bench.sqlite"
        self.tokens_file = self.workdir / "tokens.txt"
        self.statements_file = self.workdir / "statements.txt"
        self.cookies_file = self.workdir / "cookies.txt"
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.procs: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.log_paths: list[Path] = []
        self.postmaster: int | None = None
        # Every server of one PostgreSQL database needs the same secret.
        self.env = {**os.environ, "CHARTER_SECRET": secrets.token_hex(32)} if url else None
        self.statements: list[int] = []
        self.organiser = ""

    # -- server ---------------------------------------------------------------

    def start(self) -> None:
        if not self.url:
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.database) + suffix).unlink(missing_ok=True)
        pw = self.workdir / "password"
        pw.write_text(PASSWORD + "\n")
        subprocess.run([str(self.binary), "admin", "create-organiser", "--email", "bench@example.org",
                        "--password-file", str(pw), "--database", str(self.database)],
                       check=True, capture_output=True, cwd=REPO, env=self.env)
        out = subprocess.run([str(self.binary), "admin", "create-token", "--email", "bench@example.org",
                              "--database", str(self.database)], check=True, capture_output=True, text=True,
                             cwd=REPO, env=self.env).stdout
        self.organiser = re.search(r"co_[A-Za-z0-9_\-.]+", out).group(0)
        for index in range(self.server_count):
            port = (self.args.port or free_port()) if not self.url else free_port()
            log_path = self.workdir / ("server.log" if not self.url else f"server-{index + 1}.log")
            command = [str(self.binary), "serve", "--host", "127.0.0.1", "--port", str(port),
                       "--database", str(self.database), "--vote-limit", "off", "--vote-ip-limit", "off",
                       "--statement-limit", "off", "--statement-ip-limit", "off", "--participant-ip-limit", "off", "--log-level", "warning"]
            if self.args.analysis_interval is not None:
                command += ["--analysis-interval", str(self.args.analysis_interval)]
            with open(log_path, "ab") as log_file:
                proc = subprocess.Popen(command, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT, env=self.env)
            self.procs.append(proc)
            self.ports.append(port)
            self.log_paths.append(log_path)
            if index == 0:
                self.proc, self.port = proc, port
            wait_until_serving(proc, port, "GET", "/healthz", 200, f"charter (see {log_path})", timeout=60)
        if self.url:
            self.postmaster = find_postmaster(self.url)

    def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc, timeout=60)

    # -- data -----------------------------------------------------------------

    def add_statements(self, count: int) -> None:
        client = Client(self.port)
        start = len(self.statements)
        for first in range(start, start + count, 500):
            texts = [f"Benchmark statement number {i}" for i in range(first, min(start + count, first + 500))]
            status, body = client.call("POST", f"/api/v1/conversations/{SLUG}/seeds", {"statements": texts},
                                       self.organiser)
            assert status == 201 and not body["skipped"], f"seeds: {status} {str(body)[:300]}"
            self.statements += [s["id"] for s in body["added"]]
        self.statements_file.write_text("\n".join(map(str, self.statements)) + "\n")

    def populate(self, participants: int, statements: int) -> None:
        t0 = time.monotonic()
        status, body = Client(self.port).call("POST", "/api/v1/conversations",
                                              {"slug": SLUG, "title": "Benchmark", "question": "Fast enough?"},
                                              self.organiser)
        assert status == 201, f"create conversation: {status} {body}"
        self.add_statements(statements)
        local = threading.local()

        def register(_):
            if not hasattr(local, "client"):
                local.client = Client(self.port)
            status, body = local.client.call("POST", f"/api/v1/conversations/{SLUG}/participants", {})
            assert status == 201, f"participant: {status} {body}"
            return body["token"]

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            tokens = list(pool.map(register, range(participants)))
        self.tokens_file.write_text("\n".join(tokens) + "\n")
        log(f"set-up: {statements} statements, {participants} participants in {time.monotonic() - t0:.1f} s")

    def bind_readers(self, count: int = 50) -> None:
        """The page readers' browsers: panel id bench-reader-N bound to a browser of its own, whose
        cookie wrk then sends (cookies.txt, line N+1)."""
        cookies = [bind_reader(self.port, f"bench-reader-{n}") for n in range(count)]
        self.cookies_file.write_text("\n".join(cookies) + "\n")

    def capacity(self) -> int:
        return len(self.statements) * self.participants

    @property
    def participants(self) -> int:
        return self.args.participants

    # -- wrk --------------------------------------------------------------------

    def wrk(self, mode: str, connections: int, seconds: float, offset: int = 0, delay_ms: float = 0,
            threads: int | None = None, target: subprocess.Popen | None = None,
            port: int | None = None, stride: int | None = None, thread_base: int = 0) -> subprocess.Popen:
        """Starts wrk against Charter, or against `target` listening on `port`. collect() reports the
        CPU time the server and wrk spent per request; that is exact only when no other child
        process ends during the round (true of the sequential rounds, not of the read round)."""
        threads = max(1, min(threads or self.args.threads, connections))
        target = target or self.proc
        port = port or self.port
        result = self.workdir / f"wrk-{mode}-{time.monotonic_ns()}.json"
        env = {**os.environ, "BENCH_MODE": mode, "BENCH_SLUG": SLUG, "BENCH_TOKENS": str(self.tokens_file),
               "BENCH_STATEMENTS": str(self.statements_file), "BENCH_THREADS": str(stride or threads),
               "BENCH_THREAD_BASE": str(thread_base), "BENCH_COOKIES": str(self.cookies_file),
               "BENCH_OFFSET": str(offset), "BENCH_RESULT": str(result), "BENCH_DELAY_MS": str(delay_ms),
               "BENCH_CHANGES": str(self.workdir / "changes.txt")}
        command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
                   "--timeout", "30s", "-s", str(LUA), f"http://127.0.0.1:{port}"]
        cpu_before = (target.pid, cpu_seconds(target.pid), children_cpu_seconds())
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        proc.result_path = result  # type: ignore[attr-defined]
        proc.cpu_before = cpu_before  # type: ignore[attr-defined]
        return proc

    @staticmethod
    def collect(proc: subprocess.Popen) -> dict:
        output, _ = proc.communicate()
        pid, server_before, children_before = proc.cpu_before  # type: ignore[attr-defined]
        server_cpu = cpu_seconds(pid) - server_before
        wrk_cpu = children_cpu_seconds() - children_before
        path: Path = proc.result_path  # type: ignore[attr-defined]
        if proc.returncode != 0 or not path.exists():
            raise SystemExit(f"wrk failed ({proc.returncode}):\n{output}")
        result = json.loads(path.read_text())
        path.unlink()
        seconds = result["duration_us"] / 1e6
        result["rps"] = result["requests"] / seconds
        result["ok"] = result["responses"] - result["non2xx"]
        result["server_cpu_seconds"] = server_cpu
        result["wrk_cpu_seconds"] = wrk_cpu
        result["server_cpu"] = server_cpu / seconds  # cores
        result["wrk_cpu"] = wrk_cpu / seconds
        requests = max(1, result["requests"])
        result["server_us"] = server_cpu / requests * 1e6
        result["wrk_us"] = wrk_cpu / requests * 1e6
        return result

    def start_split(self, mode: str, connections: int, seconds: float, offset: int = 0) -> dict:
        """Starts one wrk per server, the connections split between them (the first ones get the
        odd ones), wrk's threads too, all numbered as one round's (no pair twice across them)."""
        shares = [connections // self.server_count + (1 if i < connections % self.server_count else 0)
                  for i in range(self.server_count)]
        each = max(1, math.ceil(self.args.threads / self.server_count))
        plan = [(i, share, max(1, min(each, share))) for i, share in enumerate(shares) if share]
        stride = sum(threads for _, _, threads in plan)
        before = {"servers": [cpu_seconds(p.pid) for p in self.procs], "children": children_cpu_seconds(),
                  "postgres": postgres_cpu_seconds(self.postmaster) if self.postmaster else None}
        procs, base = [], 0
        for index, share, threads in plan:
            procs.append(self.wrk(mode, share, seconds, offset, threads=threads, target=self.procs[index],
                                  port=self.ports[index], stride=stride, thread_base=base))
            base += threads
        return {"procs": procs, "before": before, "connections": connections}

    def finish_split(self, round_: dict) -> dict:
        """Waits for start_split's wrk processes; one result: votes/s summed, latency the worse of
        them, CPU of every server (and of PostgreSQL, when it runs here) per request and per
        acknowledged vote."""
        parts = []
        for proc in round_["procs"]:
            output, _ = proc.communicate()
            path: Path = proc.result_path  # type: ignore[attr-defined]
            if proc.returncode != 0 or not path.exists():
                raise SystemExit(f"wrk failed ({proc.returncode}):\n{output}")
            parts.append(json.loads(path.read_text()))
            path.unlink()
        before = round_["before"]
        server_cpu = sum(cpu_seconds(p.pid) - b for p, b in zip(self.procs, before["servers"]))
        wrk_cpu = children_cpu_seconds() - before["children"]
        postgres_cpu = (postgres_cpu_seconds(self.postmaster) - before["postgres"]
                        if before["postgres"] is not None else None)
        seconds = max(p["duration_us"] for p in parts) / 1e6
        result = {
            "mode": parts[0]["mode"], "connections": round_["connections"], "parts": len(parts),
            "requests": sum(p["requests"] for p in parts), "responses": sum(p["responses"] for p in parts),
            "non2xx": sum(p["non2xx"] for p in parts),
            "statuses": ",".join(p["statuses"] for p in parts if p["statuses"]),
            "errors": {k: sum(p["errors"][k] for p in parts) for k in parts[0]["errors"]},
            "latency_us": {k: max(p["latency_us"][k] for p in parts) for k in parts[0]["latency_us"]},
            "next_offset": max(p["next_offset"] for p in parts),
            "exhausted": sum(p["exhausted"] for p in parts),
            "first_error": next((p["first_error"] for p in parts if p["first_error"]), ""),
            "duration_us": seconds * 1e6,
        }
        result["rps"] = sum(p["requests"] / (p["duration_us"] / 1e6) for p in parts)
        result["ok"] = result["responses"] - result["non2xx"]
        requests = max(1, result["requests"])
        result["server_cpu_seconds"] = server_cpu
        result["wrk_cpu_seconds"] = wrk_cpu
        result["server_cpu"] = server_cpu / seconds
        result["server_us"] = server_cpu / requests * 1e6
        result["wrk_us"] = wrk_cpu / requests * 1e6
        result["postgres_cpu_seconds"] = postgres_cpu
        return result

    def stored_votes(self) -> tuple[int, int]:
        if self.url:
            row = psql(self.url, "SELECT (SELECT count(*) FROM vote), (SELECT count(*) FROM vote_event)")[0]
            return int(row[0]), int(row[1])
        db = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=60)
        try:
            return (db.execute("SELECT COUNT(*) FROM vote").fetchone()[0],
                    db.execute("SELECT COUNT(*) FROM vote_event").fetchone()[0])
        finally:
            db.close()

    def ensure_capacity(self, offset: int, expected: float) -> None:
        """Adds statements so the next `expected` requests find fresh (participant, statement) pairs."""
        needed = offset + int(expected)
        if needed > self.capacity():
            more = math.ceil((needed - self.capacity()) / self.participants)
            log(f"adding {more} statements so no pair repeats")
            self.add_statements(more)

    def write_last_votes(self) -> int:
        """changes.txt for wrk's change mode: each participant's last vote, in token order. Waits
        until the stored votes stop changing, so no request still in flight moves a last vote."""
        previous = None
        while True:
            current = self.stored_votes()
            if current == previous:
                break
            previous = current
            time.sleep(1)
        db = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=60)
        try:
            last = {p: (s, v) for p, s, v in db.execute(
                "SELECT participant_id, statement_id, value FROM vote v WHERE event_id = "
                "(SELECT MAX(event_id) FROM vote WHERE participant_id = v.participant_id)")}
        finally:
            db.close()
        lines = []
        for token in self.tokens_file.read_text().split():
            participant = int(token[len("cp_"):].split("_")[0])
            if participant not in last:
                raise SystemExit(f"participant {participant} has no vote to change: fill for longer")
            lines.append("%d %d" % last[participant])
        (self.workdir / "changes.txt").write_text("\n".join(lines) + "\n")
        return previous[0]

    def log_summary(self) -> dict:
        """The servers' logs (--log-level warning): how many lines at each level, and the first
        error or worse."""
        counts: dict[str, int] = {}
        first = ""
        for path in self.log_paths:
            try:
                lines = path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                match = re.match(r"\S+ (trace|debug|info|notice|warning|error|critical) ", line)
                level = match.group(1) if match else "other"
                counts[level] = counts.get(level, 0) + 1
                if not first and level in ("error", "critical"):
                    first = line[:300]
        return {"counts": counts, "first_error": first}

    def close(self) -> None:
        """Stops the server; removes the work folder unless it was asked for or to be kept."""
        self.stop()
        if not self.args.keep and self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            log(f"kept {self.workdir}")

    def rss_kb(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


def sqlite_limit(bench: Bench) -> dict:
    log("measuring the SQLite limit (sqlite_limit.py)")
    out = subprocess.run([sys.executable, str(HERE / "sqlite_limit.py"), "--json", "--dir", str(bench.workdir),
                          "--seconds", str(bench.args.sqlite_seconds), "--schema-from", str(bench.database)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


FLOOR_STACKS = {
    "hummingbird": "Hummingbird floor",
    "nio": "SwiftNIO floor",
}


class Floors:
    """charter-bench-floor (scripts/bench/floor): the HTTP stack with a vote route that does
    nothing, one process per stack, each driven by the same wrk rounds as Charter right after
    Charter's round at the same connection count, so that both see the machine in the same state
    (this host's speed drifts by tens of per cent over minutes)."""

    def __init__(self, bench: Bench):
        self.bench = bench
        binary = Path(os.environ.get("CHARTER_FLOOR_BIN", REPO / ".build/release/charter-bench-floor")).resolve()
        if not os.access(binary, os.X_OK):
            raise SystemExit(f"charter-bench-floor not found: {binary} (or pass --no-floor)")
        self.binary = binary
        self.servers: dict[str, tuple[subprocess.Popen, int]] = {}
        self.results: dict[str, list[dict]] = {stack: [] for stack in FLOOR_STACKS}

    def start(self) -> None:
        """Starts one server per stack; close() stops those started, even when one failed."""
        for stack in FLOOR_STACKS:
            port = free_port()
            proc = subprocess.Popen([str(self.binary), stack, str(port)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            self.servers[stack] = (proc, port)
            wait_until_serving(proc, port, "POST", f"/api/v1/conversations/{SLUG}/votes", 201,
                               f"charter-bench-floor {stack}", timeout=30)

    def round(self, connections: int, seconds: float) -> None:
        for stack, name in FLOOR_STACKS.items():
            proc, port = self.servers[stack]
            result = self.bench.collect(self.bench.wrk("vote", connections, seconds, target=proc, port=port))
            if result["non2xx"]:
                raise SystemExit(f"{name} answered {result['statuses']}")
            result["connections"] = connections
            self.results[stack].append(result)
            log(f"  {name}: {result['rps']:,.0f} requests/s, p99 {ms(result['latency_us']['p99'])} ms, "
                f"server {result['server_us']:.0f} µs CPU per request")

    def close(self) -> None:
        for proc, _ in self.servers.values():
            stop_process(proc, timeout=10)


def analysis_text(args) -> str:
    if args.analysis_interval is not None:
        return f"analysis every {args.analysis_interval:g} s"
    return "analysis at the server's default interval, as in production"


def ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def run_votes(args) -> None:
    for tool in ("wrk",):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing (Debian package {tool})")
    postgres = PostgresServer(args.database) if args.database else None
    if postgres:
        for tool in ("psql", "pgbench"):
            psql_tool(tool)
        # SIGTERM too stops the servers, drops the databases and stops a cluster this run started.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if postgres:
            postgres.start()
        sqlite = run_sqlite_votes(args)
        if postgres:
            run_postgres_votes(args, postgres, sqlite)
    finally:
        if postgres:
            postgres.close()


def run_sqlite_votes(args) -> dict:
    """The SQLite measurement; prints its report and returns its rounds and limit."""
    bench = Bench(args)
    floors: Floors | None = None
    try:
        bench.start()
        bench.populate(args.participants, args.statements)
        bench.bind_readers()
        limit = sqlite_limit(bench)
        if not args.no_floor:
            floors = Floors(bench)
            floors.start()
        best = limit["best"]["votes_per_second"]
        log(f"SQLite limit: {best:,.0f} votes/s (batch {limit['best']['batch']})")

        offset = 0
        rounds = []
        peak = 2000.0
        for connections in args.connections:
            bench.ensure_capacity(offset, max(peak * 2, 2000) * args.duration)
            log(f"round: {connections} connections, {args.duration} s")
            result = bench.collect(bench.wrk("vote", connections, args.duration, offset))
            offset = result["next_offset"]
            peak = max(peak, result["rps"])
            result["connections"] = connections
            rounds.append(result)
            log(f"  {result['rps']:,.0f} requests/s, non-2xx {result['non2xx']}, "
                f"p50 {ms(result['latency_us']['p50'])} ms, p99 {ms(result['latency_us']['p99'])} ms")
            refused = bench.collect(bench.wrk("refused", connections, args.duration))
            if refused["non2xx"] != refused["responses"] or not refused["statuses"].startswith("422:"):
                raise SystemExit(f"the refused round expected only 422s, got {refused['statuses'] or 'some 2xx'}")
            result["ceiling"] = refused
            log(f"  HTTP ceiling (the same request refused before storage): {refused['rps']:,.0f} requests/s, "
                f"p99 {ms(refused['latency_us']['p99'])} ms, server {refused['server_us']:.0f} µs CPU per request")
            if floors:
                floors.round(connections, args.duration)

        # Reads, idle and under a vote round.
        read_seconds = max(3.0, args.duration - 2)
        idle = {mode: bench.collect(bench.wrk(mode, args.read_connections, read_seconds, threads=1))
                for mode in ("page", "next")}
        bench.ensure_capacity(offset, max(peak * 2, 2000) * args.duration)
        log(f"reads under a vote round of {args.read_round} connections")
        writer = bench.wrk("vote", args.read_round, args.duration, offset)
        time.sleep(1)  # let the write load build up before the readers start
        readers = {mode: bench.wrk(mode, args.read_connections, read_seconds, threads=1) for mode in ("page", "next")}
        loaded = {mode: bench.collect(proc) for mode, proc in readers.items()}
        write = bench.collect(writer)
        offset = write["next_offset"]

        bench.stop()
        stored, events = bench.stored_votes()
        acknowledged = sum(r["ok"] for r in rounds) + write["ok"]
        print_votes_report(args, bench, limit, rounds, idle, loaded, write, stored, events, acknowledged,
                           floors.results if floors else {})
        sys.stdout.flush()
        return {"rounds": rounds, "limit": limit, "logs": bench.log_summary(), "idle": idle, "loaded": loaded,
                "write": write, "stored": stored, "acknowledged": acknowledged}
    finally:
        if floors:
            floors.close()
        bench.close()


def postgres_limit(args, server: PostgresServer) -> dict:
    """PostgreSQL's own limit (postgres_limit.py) in a fresh database that Charter has migrated."""
    url = server.create_database("limit")
    try:
        log("measuring the PostgreSQL limit (postgres_limit.py)")
        pw = Path(tempfile.mkdtemp(prefix="charter-bench-")) / "password"
        try:
            pw.write_text(PASSWORD + "\n")
            binary = Path(os.environ.get("CHARTER_BIN", REPO / ".build/release/charter")).resolve()
            subprocess.run([str(binary), "admin", "create-organiser", "--email", "bench@example.org",
                            "--password-file", str(pw), "--database", url], check=True, capture_output=True, cwd=REPO)
        finally:
            shutil.rmtree(pw.parent, ignore_errors=True)
        run = subprocess.run([sys.executable, str(HERE / "postgres_limit.py"), url, "--json",
                              "--seconds", str(args.postgres_seconds), "--participants", str(args.participants)],
                             capture_output=True, text=True)
        sys.stderr.write(run.stderr)
        if run.returncode != 0:
            raise SystemExit(f"postgres_limit.py failed ({run.returncode})")
        return json.loads(run.stdout)
    finally:
        server.drop_database(url)


def run_postgres_config(args, server: PostgresServer, servers: int) -> dict:
    """Charter on PostgreSQL with `servers` servers on one fresh database: the vote rounds (the
    load split across the servers) and the reads (from the first server), idle and under load."""
    url = server.create_database(f"{servers}servers")
    workdir = Path(args.workdir) / f"postgres-{servers}" if args.workdir else None
    bench = Bench(args, url=url, servers=servers, workdir=workdir)
    try:
        bench.start()
        bench.populate(args.participants, args.statements)
        bench.bind_readers()
        if bench.postmaster is None:
            log("PostgreSQL does not run on this machine (or its processes are not visible): no PostgreSQL CPU")
        offset, rounds, peak = 0, [], 2000.0
        for connections in args.connections:
            bench.ensure_capacity(offset, max(peak * 2, 2000) * args.duration)
            log(f"PostgreSQL, {servers} server(s): {connections} connections, {args.duration} s")
            result = bench.finish_split(bench.start_split("vote", connections, args.duration, offset))
            offset = result["next_offset"]
            peak = max(peak, result["rps"])
            rounds.append(result)
            log(f"  {result['rps']:,.0f} requests/s, non-2xx {result['non2xx']}"
                f"{' (' + result['statuses'] + ')' if result['statuses'] else ''}, "
                f"p50 {ms(result['latency_us']['p50'])} ms, p99 {ms(result['latency_us']['p99'])} ms")
        read_seconds = max(3.0, args.duration - 2)
        idle = {mode: bench.collect(bench.wrk(mode, args.read_connections, read_seconds, threads=1))
                for mode in ("page", "next")}
        bench.ensure_capacity(offset, max(peak * 2, 2000) * args.duration)
        log(f"reads under a vote round of {args.read_round} connections")
        writer = bench.start_split("vote", args.read_round, args.duration, offset)
        time.sleep(1)
        readers = {mode: bench.wrk(mode, args.read_connections, read_seconds, threads=1) for mode in ("page", "next")}
        loaded = {mode: bench.collect(proc) for mode, proc in readers.items()}
        write = bench.finish_split(writer)
        bench.stop()
        stored, events = bench.stored_votes()
        return {"servers": servers, "rounds": rounds, "idle": idle, "loaded": loaded, "write": write,
                "stored": stored, "events": events, "acknowledged": sum(r["ok"] for r in rounds) + write["ok"],
                "logs": bench.log_summary(), "postgres_cpu": bench.postmaster is not None,
                "statements": len(bench.statements)}
    finally:
        bench.close()
        server.drop_database(url)


def run_postgres_votes(args, server: PostgresServer, sqlite: dict) -> None:
    limit = postgres_limit(args, server)
    log(f"PostgreSQL limit: {limit['best']['votes_per_second']:,.0f} votes/s (batch {limit['best']['batch']}, "
        f"{limit['best']['clients']} clients)")
    configs = [run_postgres_config(args, server, servers) for servers in (1, 2)]
    print_postgres_report(args, server, sqlite, limit, configs)


def print_postgres_report(args, server: PostgresServer, sqlite: dict, limit: dict, configs: list[dict]) -> None:
    sqlite_best = sqlite["limit"]["best"]["votes_per_second"]
    pg_best = limit["best"]["votes_per_second"]
    where = urllib.parse.urlsplit(server.url)
    print("## SQLite and PostgreSQL")
    print()
    print(f"The same vote rounds against Charter on SQLite (above), on PostgreSQL at {where.hostname}:{where.port} "
          f"({'a throw-away cluster, scripts/postgres/cluster' if server.spec == 'start' else 'the server given'}; "
          "a fresh database per measurement) with one server, and with two servers sharing the database "
          "(one wrk each, the connections split between them; votes/s summed, p50 and p99 the worse of the two). "
          "Server CPU: the Charter servers' user + system time (both of them for two) per acknowledged (2xx) "
          "vote; PostgreSQL CPU: that of every process of the PostgreSQL server (its backends included) per "
          f"acknowledged vote. Of limit: of SQLite's limit ({sqlite_best:,.0f} votes/s) for SQLite, of "
          f"PostgreSQL's batched limit ({pg_best:,.0f} votes/s) for PostgreSQL. {os.cpu_count()} CPUs shared "
          "by the servers, PostgreSQL and wrk.")
    print()
    print("| back end | connections | votes/s | p50 ms | p99 ms | non-2xx | server CPU µs/vote "
          "| PostgreSQL CPU µs/vote | wrk CPU µs/request | of limit |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def row(name: str, r: dict, best: float) -> None:
        ok = max(1, r["ok"])
        pg = r.get("postgres_cpu_seconds")
        statuses = f" ({r['statuses']})" if r["statuses"] else ""
        print(f"| {name} | {r['connections']} | {r['rps']:,.0f} | {ms(r['latency_us']['p50'])} "
              f"| {ms(r['latency_us']['p99'])} | {r['non2xx']}{statuses} | {r['server_cpu_seconds'] / ok * 1e6:.0f} "
              f"| {'—' if pg is None else f'{pg / ok * 1e6:.0f}'} | {r['wrk_us']:.0f} | {r['rps'] / best:.1%} |")

    for r in sqlite["rounds"]:
        row("SQLite", r, sqlite_best)
    for config in configs:
        name = f"PostgreSQL, {config['servers']} server{'s' if config['servers'] > 1 else ''}"
        for r in config["rounds"]:
            row(name, r, pg_best)
    print()
    print(f"PostgreSQL limit: {limit['server'].split(' on ')[0]}, fsync={limit['fsync']}, "
          f"synchronous_commit={limit['synchronous_commit']}, wal_sync_method={limit['wal_sync_method']}; "
          "the same rows as a vote writes (a vote_event insert + a vote upsert, Charter's schema, a fresh "
          "database) committed by pgbench, one statement per commit, without Charter:")
    print()
    print("| votes per commit | clients | votes/s | commits/s | ms per commit |")
    print("|---:|---:|---:|---:|---:|")
    for r in limit["results"]:
        print(f"| {r['batch']} | {r['clients']} | {r['votes_per_second']:,.0f} | {r['commits_per_second']:,.0f} "
              f"| {r['ms_per_commit']:.3f} |")
    print()
    print(f"Reads on PostgreSQL ({args.read_connections} connections each, against the first server), idle and "
          f"while {args.read_round} connections vote:")
    print()
    print("| back end | request | idle req/s | idle p50 ms | idle p99 ms | under load req/s | under load p50 ms "
          "| under load p99 ms | non-2xx | votes/s meanwhile |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    names = {"page": f"GET /c/{SLUG}?xid=…", "next": f"GET /api/v1/conversations/{SLUG}/next"}
    for config in configs:
        for mode in ("page", "next"):
            i, l = config["idle"][mode], config["loaded"][mode]
            statuses = ",".join(x for x in (i["statuses"], l["statuses"]) if x)
            print(f"| PostgreSQL, {config['servers']} server{'s' if config['servers'] > 1 else ''} | {names[mode]} "
                  f"| {i['rps']:,.0f} | {ms(i['latency_us']['p50'])} | {ms(i['latency_us']['p99'])} "
                  f"| {l['rps']:,.0f} | {ms(l['latency_us']['p50'])} | {ms(l['latency_us']['p99'])} "
                  f"| {i['non2xx'] + l['non2xx']}{' (' + statuses + ')' if statuses else ''} "
                  f"| {config['write']['rps']:,.0f} |")
    print()
    for config in configs:
        name = f"PostgreSQL, {config['servers']} server{'s' if config['servers'] > 1 else ''}"
        exhausted = sum(r["exhausted"] for r in config["rounds"]) + config["write"]["exhausted"]
        print(f"- {name}: votes acknowledged (2xx) {config['acknowledged']:,}; stored after SIGTERM: "
              f"{config['stored']:,} vote rows, {config['events']:,} vote_event rows."
              + (f" WARNING: {exhausted} requests reused pairs (capacity exhausted)." if exhausted else "")
              + (f" **LOST VOTES: {config['acknowledged'] - config['stored']} acknowledged votes are not stored**"
                 if config["stored"] < config["acknowledged"] else ""))
    for name, logs in [("SQLite", sqlite["logs"])] + [
            (f"PostgreSQL, {c['servers']} server{'s' if c['servers'] > 1 else ''}", c["logs"]) for c in configs]:
        counts = ", ".join(f"{n} {level}" for level, n in sorted(logs["counts"].items())) or "empty"
        print(f"- {name}: server log (level warning and up): {counts}"
              + (f"; first error: `{logs['first_error']}`" if logs["first_error"] else ""))
    pg_log = server.log_summary()
    if pg_log is not None:
        counts = ", ".join(f"{n} {level}" for level, n in sorted(pg_log["counts"].items())) or "no ERROR, FATAL, PANIC or WARNING"
        print(f"- PostgreSQL's log during the run ({pg_log['lines']} lines): {counts}"
              + "".join(f"; first {level}: `{line}`" for level, line in sorted(pg_log["first"].items())))
    print()


def print_votes_report(args, bench, limit, rounds, idle, loaded, write, stored, events, acknowledged,
                       floors) -> None:
    best = limit["best"]["votes_per_second"]
    version = subprocess.run([str(bench.binary), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"## Vote throughput: {bench.binary} {version}".rstrip())
    print()
    analysis = analysis_text(args)
    print(f"{args.participants} participants, {len(bench.statements)} statements, every rate limit off, {analysis}, "
          f"loopback, wrk {args.duration} s per round; {os.cpu_count()} CPUs shared by server and wrk. "
          "HTTP ceiling: the same request with the vote \"maybe\", refused (422) after the token and the body "
          "are read and before storage, at the same connection count.")
    print()
    print("| connections | votes/s | non-2xx | socket errors | p50 ms | p90 ms | p99 ms | max ms | of SQLite limit "
          "| HTTP ceiling req/s | ceiling p99 ms | of HTTP ceiling | server CPU µs/vote | wrk CPU µs/request |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rounds:
        e = r["errors"]
        socket_errors = e["connect"] + e["read"] + e["write"] + e["timeout"]
        lat = r["latency_us"]
        print(f"| {r['connections']} | {r['rps']:,.0f} | {r['non2xx']}{' (' + r['statuses'] + ')' if r['statuses'] else ''} "
              f"| {socket_errors} | {ms(lat['p50'])} | {ms(lat['p90'])} | {ms(lat['p99'])} | {ms(lat['max'])} "
              f"| {r['rps'] / best:.1%} | {r['ceiling']['rps']:,.0f} | {ms(r['ceiling']['latency_us']['p99'])} "
              f"| {r['rps'] / r['ceiling']['rps']:.0%} | {r['server_us']:.0f} | {r['wrk_us']:.0f} |")
    print()
    print(f"SQLite limit on this disk: {best:,.0f} votes/s (WAL, synchronous=FULL, "
          f"{limit['best']['batch']} votes per commit; one vote = vote_event insert + vote upsert):")
    print()
    print("| votes per commit | votes/s | commits/s | ms per commit |")
    print("|---:|---:|---:|---:|")
    for r in limit["results"]:
        print(f"| {r['batch']} | {r['votes_per_second']:,.0f} | {r['commits_per_second']:,.0f} | {r['ms_per_commit']:.3f} |")
    print()
    print(f"Reads ({args.read_connections} connections each), idle and while {args.read_round} connections vote "
          f"({write['rps']:,.0f} votes/s, non-2xx {write['non2xx']}, p99 {ms(write['latency_us']['p99'])} ms):")
    print()
    print("| request | idle req/s | idle p50 ms | idle p99 ms | under load req/s | under load p50 ms | under load p99 ms | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    names = {"page": f"GET /c/{SLUG}?xid=…", "next": f"GET /api/v1/conversations/{SLUG}/next"}
    for mode in ("page", "next"):
        i, l = idle[mode], loaded[mode]
        print(f"| {names[mode]} | {i['rps']:,.0f} | {ms(i['latency_us']['p50'])} | {ms(i['latency_us']['p99'])} "
              f"| {l['rps']:,.0f} | {ms(l['latency_us']['p50'])} | {ms(l['latency_us']['p99'])} "
              f"| {i['non2xx'] + l['non2xx']} |")
    print()
    if floors:
        print_floors(args, rounds, floors)
    exhausted = sum(r["exhausted"] for r in rounds) + write["exhausted"]
    print(f"Votes acknowledged (2xx) {acknowledged:,}; stored after SIGTERM: {stored:,} vote rows, {events:,} "
          f"vote_event rows (stored ≥ acknowledged: requests in flight when wrk stopped may also commit)."
          + (f" WARNING: {exhausted} requests reused pairs (capacity exhausted)." if exhausted else ""))
    if stored < acknowledged:
        print(f"**LOST VOTES: {acknowledged - stored} acknowledged votes are not stored**")


def print_floors(args, rounds, floors) -> None:
    print("Floors: the same wrk rounds against scripts/bench/floor, whose vote route reads the body and answers "
          "201 without any work, each run right after Charter's round at the same connection count. Hummingbird floor: Hummingbird 2 with that one route; SwiftNIO floor: the HTTP/1 "
          "pipeline under Hummingbird with a handler that answers on the event loop, no framework. CPU is "
          "the server's user + system time over the round (Linux /proc), divided by the requests served; "
          "\"refused vote\" is the HTTP ceiling round above.")
    print()
    header = "| connections | Charter votes/s | Charter µs/vote | refused vote µs/request"
    for name in FLOOR_STACKS.values():
        header += f" | {name} req/s | p99 ms | µs/request | wrk µs/request"
    print(header + " |")
    print("|---:" * (4 + 4 * len(floors)) + "|")
    for i, r in enumerate(rounds):
        line = f"| {r['connections']} | {r['rps']:,.0f} | {r['server_us']:.0f} | {r['ceiling']['server_us']:.0f}"
        for stack in FLOOR_STACKS:
            f = floors[stack][i]
            line += f" | {f['rps']:,.0f} | {ms(f['latency_us']['p99'])} | {f['server_us']:.0f} | {f['wrk_us']:.0f}"
        print(line + " |")
    print()
    # What the goal asks of the CPU: at a rate R, the server needs R × (its CPU per request) cores and wrk
    # R × (its CPU per request); the two share os.cpu_count() cores.
    goal = 20_000
    cores = os.cpu_count() or 1
    for stack, name in FLOOR_STACKS.items():
        best = max(floors[stack], key=lambda f: f["rps"])
        need = goal * (best["server_us"] + best["wrk_us"]) / 1e6
        print(f"- {name}: best {best['rps']:,.0f} requests/s ({best['connections']} connections); at its measured cost ({best['server_us']:.0f} µs server + {best['wrk_us']:.0f} µs "
              f"wrk per request) {goal:,} requests/s would need {need:.2f} of the {cores} cores before any vote "
              "is stored.")
    best = max(rounds, key=lambda r: r["rps"])
    need = goal * (best["server_us"] + best["wrk_us"]) / 1e6
    print(f"- Charter: best {best['rps']:,.0f} votes/s ({best['connections']} connections); at its measured cost ({best['server_us']:.0f} µs server + "
          f"{best['wrk_us']:.0f} µs wrk per vote) {goal:,} votes/s would need {need:.2f} cores.")
    print()


def run_soak(args) -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing (Debian package wrk)")
    bench = Bench(args)
    seconds = args.minutes * 60
    try:
        bench.start()
        statements = max(args.statements, math.ceil(args.rate * seconds * 1.3 / args.participants))
        bench.populate(args.participants, statements)
        delay_ms = 1000.0 * args.connections / args.rate
        fill = ""
        if args.workload == "change":
            t = time.monotonic()
            filled = bench.collect(bench.wrk("vote", 64, args.fill_seconds))
            stored = bench.write_last_votes()
            fill = (f"filled with {stored:,} votes in {time.monotonic() - t:.0f} s "
                    f"(non-2xx {filled['non2xx']}), then every vote changes a participant's last vote")
            log(fill)
        log(f"soak: {args.minutes} min at about {args.rate} votes/s ({args.connections} connections, "
            f"{delay_ms:.1f} ms between requests on a connection)")
        samples = []
        t0 = time.monotonic()
        writer = bench.wrk("change" if args.workload == "change" else "vote", args.connections, seconds,
                           0, delay_ms=delay_ms)
        while True:
            elapsed = time.monotonic() - t0
            stored, _ = bench.stored_votes()
            samples.append((elapsed, bench.rss_kb(), stored))
            log(f"  {elapsed:6.0f} s  RSS {samples[-1][1] / 1024:8.1f} MiB  votes {stored:,}")
            if writer.poll() is not None or elapsed >= seconds:
                break
            time.sleep(max(0.0, args.sample - ((time.monotonic() - t0) % args.sample)))
        result = bench.collect(writer)
        elapsed = time.monotonic() - t0
        stored, _ = bench.stored_votes()
        samples.append((elapsed, bench.rss_kb(), stored))
        analysis = analysis_text(args)
        print(f"## Soak: {args.minutes} min, ~{args.rate} votes/s asked, {result['rps']:,.0f} votes/s done, "
              f"non-2xx {result['non2xx']}{' (' + result['statuses'] + ')' if result['statuses'] else ''}, "
              f"p99 {ms(result['latency_us']['p99'])} ms")
        if result.get("first_error"):
            print()
            print(f"First refusal: `{result['first_error']}`")
        print()
        print(f"Workload: {args.workload}; {fill + '; ' if fill else ''}{analysis}.")
        print()
        print("| time s | RSS MiB | votes stored |")
        print("|---:|---:|---:|")
        for t, rss, votes in samples:
            print(f"| {t:.0f} | {rss / 1024:.1f} | {votes:,} |")
        first = [rss for t, rss, _ in samples if t <= 60] or [samples[0][1]]
        last = [rss for t, rss, _ in samples if t >= elapsed - 60] or [samples[-1][1]]
        a, b = sum(first) / len(first), sum(last) / len(last)
        print()
        print(f"RSS growth, mean of the first minute → mean of the last minute: {a / 1024:.1f} → {b / 1024:.1f} MiB "
              f"({(b - a) / 1024:+.1f} MiB, {(b - a) / a:+.1%}); peak {max(s[1] for s in samples) / 1024:.1f} MiB")
    finally:
        bench.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("votes", "soak"):
        p = sub.add_parser(name)
        p.add_argument("--participants", type=int, default=5000)
        p.add_argument("--statements", type=int, default=200)
        p.add_argument("--threads", type=int, default=2, help="wrk threads (at most the connections)")
        p.add_argument("--workdir", default=None, help="keep everything here (default: a temp folder, removed)")
        p.add_argument("--keep", action="store_true", help="keep the temp folder")
        p.add_argument("--port", type=int, default=0)
        p.add_argument("--analysis-interval", type=float, default=None,
                       help="passed to charter serve (default: the server's)")
    votes = sub.choices["votes"]
    votes.add_argument("--connections", default="1,4,16,64,256",
                       type=lambda s: [int(c) for c in s.split(",") if c])
    votes.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    votes.add_argument("--read-round", type=int, default=16, help="connections of the vote round the reads overlap")
    votes.add_argument("--read-connections", type=int, default=2)
    votes.add_argument("--sqlite-seconds", type=float, default=3.0)
    votes.add_argument("--database", default=None, metavar="URL",
                       help="also measure Charter on PostgreSQL (one server, then two) and PostgreSQL's own "
                            "limit: a postgres:// URL of a server to make fresh databases on, or 'start' for a "
                            "throw-away cluster (scripts/postgres/cluster) in /tmp/charter-bench-postgres-$UID")
    votes.add_argument("--postgres-seconds", type=float, default=3.0, help="time per case of the PostgreSQL limit")
    votes.add_argument("--no-floor", action="store_true",
                       help="skip the floor rounds (charter-bench-floor: the HTTP stack alone)")
    soak = sub.choices["soak"]
    soak.add_argument("minutes", nargs="?", type=float, default=10.0)
    soak.add_argument("--rate", type=float, default=200.0, help="votes per second asked for")
    soak.add_argument("--workload", choices=("change", "new"), default="change",
                      help="change: fill first, then votes change participants' last votes, so the data the "
                           "analysis reads stays the same size and any growth is a leak; new: every vote is new")
    soak.add_argument("--fill-seconds", type=float, default=30.0, help="change workload: seconds of filling")
    soak.add_argument("--connections", type=int, default=8)
    soak.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples")
    args = parser.parse_args()
    (run_votes if args.command == "votes" else run_soak)(args)


if __name__ == "__main__":
    main()
