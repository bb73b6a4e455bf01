#!/usr/bin/env python3
"""Vote throughput benchmark and soak for Charter (driven by scripts/bench/votes and scripts/bench/soak).

votes: measures the SQLite limit (sqlite_limit.py, same disk, same schema), starts `charter serve`
on loopback with a fresh database and every rate limit off, makes a conversation with
--statements statements and --participants participants through the API (their tokens saved to
a file), then drives POST /api/v1/conversations/{slug}/votes with wrk (votes.lua: no
(participant, statement) pair repeats in the whole benchmark) at each connection count for
--duration seconds, and measures reads (GET /c/{slug}?xid=…, GET …/next) idle and while a vote
round runs. Prints Markdown tables.

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
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
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


class Bench:
    def __init__(self, args):
        self.args = args
        self.binary = Path(os.environ.get("CHARTER_BIN", REPO / ".build/release/charter")).resolve()
        if not os.access(self.binary, os.X_OK):
            raise SystemExit(f"charter binary not found: {self.binary}")
        self.workdir = Path(args.workdir or tempfile.mkdtemp(prefix="charter-bench-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.database = self.workdir / "bench.sqlite"
        self.tokens_file = self.workdir / "tokens.txt"
        self.statements_file = self.workdir / "statements.txt"
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.statements: list[int] = []
        self.organiser = ""

    # -- server ---------------------------------------------------------------

    def start(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.database) + suffix).unlink(missing_ok=True)
        pw = self.workdir / "password"
        pw.write_text(PASSWORD + "\n")
        subprocess.run([str(self.binary), "admin", "create-organiser", "--email", "bench@example.org",
                        "--password-file", str(pw), "--database", str(self.database)],
                       check=True, capture_output=True, cwd=REPO)
        out = subprocess.run([str(self.binary), "admin", "create-token", "--email", "bench@example.org",
                              "--database", str(self.database)], check=True, capture_output=True, text=True,
                             cwd=REPO).stdout
        self.organiser = re.search(r"co_[A-Za-z0-9_\-.]+", out).group(0)
        self.port = self.args.port or free_port()
        self.log_file = open(self.workdir / "server.log", "ab")
        command = [str(self.binary), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--database", str(self.database), "--vote-limit", "off", "--vote-ip-limit", "off",
                   "--statement-limit", "off", "--statement-ip-limit", "off", "--participant-ip-limit", "off", "--log-level", "warning"]
        if self.args.analysis_interval is not None:
            command += ["--analysis-interval", str(self.args.analysis_interval)]
        self.proc = subprocess.Popen(command, cwd=REPO, stdout=self.log_file, stderr=subprocess.STDOUT)
        wait_until_serving(self.proc, self.port, "GET", "/healthz", 200,
                           f"charter (see {self.workdir / 'server.log'})", timeout=60)

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc, timeout=60)

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

    def capacity(self) -> int:
        return len(self.statements) * self.participants

    @property
    def participants(self) -> int:
        return self.args.participants

    # -- wrk --------------------------------------------------------------------

    def wrk(self, mode: str, connections: int, seconds: float, offset: int = 0, delay_ms: float = 0,
            threads: int | None = None, target: subprocess.Popen | None = None,
            port: int | None = None) -> subprocess.Popen:
        """Starts wrk against Charter, or against `target` listening on `port`. collect() reports the
        CPU time the server and wrk spent per request; that is exact only when no other child
        process ends during the round (true of the sequential rounds, not of the read round)."""
        threads = max(1, min(threads or self.args.threads, connections))
        target = target or self.proc
        port = port or self.port
        result = self.workdir / f"wrk-{mode}-{time.monotonic_ns()}.json"
        env = {**os.environ, "BENCH_MODE": mode, "BENCH_SLUG": SLUG, "BENCH_TOKENS": str(self.tokens_file),
               "BENCH_STATEMENTS": str(self.statements_file), "BENCH_THREADS": str(threads),
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
        result["server_cpu"] = server_cpu / seconds  # cores
        result["wrk_cpu"] = wrk_cpu / seconds
        requests = max(1, result["requests"])
        result["server_us"] = server_cpu / requests * 1e6
        result["wrk_us"] = wrk_cpu / requests * 1e6
        return result

    def stored_votes(self) -> tuple[int, int]:
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

    def close(self) -> None:
        """Stops the server; removes the work folder unless it was asked for or to be kept."""
        self.stop()
        if not self.args.keep and not self.args.workdir:
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
    bench = Bench(args)
    floors: Floors | None = None
    try:
        bench.start()
        bench.populate(args.participants, args.statements)
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
    finally:
        if floors:
            floors.close()
        bench.close()


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
