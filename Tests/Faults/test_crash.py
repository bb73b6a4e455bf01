"""Crash test: `kill -9` the real server while clients vote; no acknowledged vote may be lost.

    python3 -m pytest Tests/Faults -q -p no:cacheprovider
    CHARTER_CRASH_RUNS=20 python3 -m pytest Tests/Faults -q -p no:cacheprovider   # for the note

Each test runs CHARTER_CRASH_RUNS (default 5) crash runs on ONE database file that carries on
from run to run: run k+1 restarts the server on the file run k's SIGKILL left behind, so every
check covers the acknowledged votes of all earlier runs too (a vote must survive every later
crash and recovery, not only the next one). Every run makes new participants, so no client
state is carried across a crash.

A run:
  1. client threads, each with its own participants, vote over HTTP (keep-alive) and record
     every 2xx-acknowledged vote (participant, statement, value); 15 % of the requests change
     the participant's last vote (200) so `vote` rows get rewritten and the log grows beyond them;
  2. at a random moment the server gets SIGKILL:
       - test_kill9_during_steady_voting: 0.2-2 s after the load starts (seeded per run);
       - test_kill9_right_after_a_burst: 16 connections each pipeline 12 vote requests (the last
         one changes the 11th vote) in one write; once a random 1-50 % of the burst has been
         acknowledged the kill lands 0-5 ms later, so the rest are in flight;
  3. the database file is opened read-only with Python's sqlite3 (the server is dead) and
     checked: every acknowledged vote is in `vote` with the acknowledged value (a request that
     was sent but not acknowledged may or may not be there, with the value it sent); no vote
     that nobody sent; `vote` and the append-only `vote_event` log agree (each row's event_id is
     the latest event of its pair, with the same value; every logged pair has a row); every
     acknowledged participant exists; PRAGMA integrity_check is ok and foreign_key_check is empty;
  4. the server is restarted on the same file: /healthz answers 200 with the same vote count
     the file holds, and a new participant casts one new vote (201), acknowledged in turn.
After the last run the server is stopped with SIGTERM (must exit 0) and the file is checked again.

On PostgreSQL (test_kill9_on_postgres_with_two_servers; a new database per test, see
Tests/charter_postgres.py), two servers share the database and the load goes through both;
each run kills ONE of them (they take turns) while the other keeps serving: its clients go on
voting, and must not see a single failure, until it has acknowledged SURVIVOR_ACKS more votes
after the kill. Then its clients stop, the database is read with psql in one snapshot and
checked as above (PostgreSQL has no integrity_check; instead every reference of `vote` and
`vote_event` must find its row, and no foreign key may be left unvalidated), the killed server
restarts, and both report the same vote count in /healthz.

Environment: CHARTER_BIN (binary), CHARTER_CRASH_RUNS (runs per test, default 5),
CHARTER_CRASH_SEED (base seed; random by default and printed, so a failure can be re-run).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from charter_postgres import as_int, is_postgres, psql_snapshot  # noqa: E402

VALUES = {"agree": 1, "disagree": -1, "pass": 0}
STATEMENTS = 50
STEADY_THREADS = 4
BURST_CONNECTIONS = 16
BURST_DEPTH = 12
CHANGE_SHARE = 0.15
# With two servers: the votes the survivor must acknowledge after the other one's kill.
SURVIVOR_ACKS = 40

RUNS = int(os.environ.get("CHARTER_CRASH_RUNS", "5"))
BASE_SEED = int(os.environ.get("CHARTER_CRASH_SEED", str(random.SystemRandom().randrange(1, 10**9))))

CONNECTION_ERRORS = (OSError, http.client.HTTPException)


# ---------------------------------------------------------------------------
# What the clients were told


class Ledger:
    """Acknowledged and unacknowledged votes across all runs of one test."""

    def __init__(self):
        self.lock = threading.Condition()
        self.acked: dict[tuple[int, int], int] = {}  # (participant, statement) -> last acknowledged value
        self.maybe: dict[tuple[int, int], set[int]] = {}  # values sent, never acknowledged
        self.participants: set[int] = set()
        self.acked_requests = 0
        self.acked_by_port: dict[int, int] = {}  # acknowledged requests by the server port that answered
        self.unacked_requests = 0
        self.errors: list[str] = []

    def participant(self, pid: int) -> None:
        with self.lock:
            self.participants.add(pid)

    def ack(self, pair: tuple[int, int], value: int, port: int | None = None) -> None:
        with self.lock:
            self.acked[pair] = value
            self.acked_requests += 1
            if port is not None:
                self.acked_by_port[port] = self.acked_by_port.get(port, 0) + 1
            self.lock.notify_all()

    def wait_acked(self, count: int, timeout: float) -> bool:
        with self.lock:
            return self.lock.wait_for(lambda: self.acked_requests >= count, timeout)

    def acked_by(self, port: int) -> int:
        with self.lock:
            return self.acked_by_port.get(port, 0)

    def wait_acked_by(self, port: int, count: int, timeout: float) -> bool:
        with self.lock:
            return self.lock.wait_for(lambda: self.acked_by_port.get(port, 0) >= count or bool(self.errors), timeout)

    def unacked(self, pair: tuple[int, int], value: int) -> None:
        with self.lock:
            self.maybe.setdefault(pair, set()).add(value)
            self.unacked_requests += 1

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


class Participant:
    def __init__(self, pid: int, token: str):
        self.pid = pid
        self.token = token
        self.voted: dict[int, int] = {}  # statement -> acknowledged value
        self.last: int | None = None  # statement of the last acknowledged vote


def register(port: int, slug: str, conn=None, request=None) -> Participant:
    status, _, body = request(port, "POST", f"/api/v1/conversations/{slug}/participants", {}, conn=conn)
    assert status == 201, f"register participant: HTTP {status} {body[:300]!r}"
    data = json.loads(body)
    return Participant(int(data["participant"]["id"]), data["token"])


def plan_vote(rng: random.Random, p: Participant, statements: list[int]) -> tuple[int, int, int]:
    """(statement, value, expected status): a change of the last vote, or a vote on a new statement."""
    if p.last is not None and rng.random() < CHANGE_SHARE:
        current = p.voted[p.last]
        value = rng.choice([v for v in VALUES.values() if v != current])
        return p.last, value, 200
    unvoted = [s for s in statements if s not in p.voted]
    return rng.choice(unvoted), rng.choice(list(VALUES.values())), 201


def value_name(value: int) -> str:
    return next(name for name, v in VALUES.items() if v == value)


def check_vote_response(status: int, body: bytes, statement: int, value: int, expected: int) -> str | None:
    if status != expected:
        return f"HTTP {status} (expected {expected}): {body[:300]!r}"
    try:
        data = json.loads(body)
    except ValueError:
        return f"HTTP {status} with a body that is not JSON: {body[:300]!r}"
    if data.get("statement") != statement or data.get("vote") != value_name(value):
        return f"HTTP {status} acknowledged {data.get('statement')}/{data.get('vote')}, sent {statement}/{value_name(value)}"
    return None


# ---------------------------------------------------------------------------
# The database after the crash


def read_sqlite(path: Path) -> dict:
    """The rows the checks need, from the file opened read-only."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        integrity = [row[0] for row in db.execute("PRAGMA integrity_check")]
        return {
            "integrity": [] if integrity == ["ok"] else integrity,
            "foreign_keys": db.execute("PRAGMA foreign_key_check").fetchall(),
            "votes": [tuple(row) for row in
                      db.execute("SELECT participant_id, statement_id, value, event_id, conversation_id FROM vote")],
            "events": [tuple(row) for row in
                       db.execute("SELECT id, participant_id, statement_id, value, conversation_id FROM vote_event")],
            "participants": {row[0] for row in db.execute("SELECT id FROM participant")},
        }
    finally:
        db.close()


# PostgreSQL enforces its foreign keys, so this finds nothing unless a constraint is missing or
# was never validated: what `PRAGMA foreign_key_check` proves on SQLite, asked in SQL.
POSTGRES_ORPHANS = " UNION ALL ".join(
    f"SELECT 'orphan', '{table}.{column}', t.{key} FROM {table} t "
    f"WHERE NOT EXISTS (SELECT 1 FROM {target} r WHERE r.id = t.{column})"
    for table, key, column, target in [
        ("vote", "participant_id || '/' || t.statement_id", "participant_id", "participant"),
        ("vote", "participant_id || '/' || t.statement_id", "statement_id", "statement"),
        ("vote", "participant_id || '/' || t.statement_id", "conversation_id", "conversation"),
        ("vote", "participant_id || '/' || t.statement_id", "event_id", "vote_event"),
        ("vote_event", "id::text", "participant_id", "participant"),
        ("vote_event", "id::text", "statement_id", "statement"),
        ("vote_event", "id::text", "conversation_id", "conversation"),
    ])


def read_postgres(url: str) -> dict:
    """The rows the checks need, read with psql in one snapshot (every row tagged by its query)."""
    rows = psql_snapshot(
        url,
        "SELECT 'vote', participant_id, statement_id, value, event_id, conversation_id FROM vote",
        "SELECT 'event', id, participant_id, statement_id, value, conversation_id FROM vote_event",
        "SELECT 'participant', id FROM participant",
        POSTGRES_ORPHANS,
        "SELECT 'unvalidated', conrelid::regclass::text, conname FROM pg_constraint "
        "WHERE contype = 'f' AND NOT convalidated AND connamespace = current_schema()::regnamespace",
    )
    tagged: dict[str, list[list[str]]] = {}
    for row in rows:
        tagged.setdefault(row[0], []).append(row[1:])
    return {
        "integrity": [],  # PostgreSQL has no integrity_check; its WAL replay is what recovers it
        "foreign_keys": [tuple(r) for r in tagged.get("orphan", []) + tagged.get("unvalidated", [])],
        "votes": [tuple(as_int(f) for f in r) for r in tagged.get("vote", [])],
        "events": [tuple(as_int(f) for f in r) for r in tagged.get("event", [])],
        "participants": {as_int(r[0]) for r in tagged.get("participant", [])},
    }


def check_database(database: Path | str, ledger: Ledger) -> dict:
    """Reads the database (a SQLite file, read-only, or PostgreSQL through psql); returns the
    findings (every list must be empty) and counts."""
    rows = read_postgres(database) if is_postgres(database) else read_sqlite(database)
    integrity, foreign = rows["integrity"], rows["foreign_keys"]
    votes = {(p, s): (v, e) for p, s, v, e, _ in rows["votes"]}
    events = {i: (p, s, v, c) for i, p, s, v, c in rows["events"]}
    vote_conversation = {(p, s): c for p, s, _, _, c in rows["votes"]}
    latest: dict[tuple[int, int], int] = {}
    for i, p, s, _, _ in rows["events"]:
        latest[(p, s)] = max(i, latest.get((p, s), i))
    participants = rows["participants"]

    with ledger.lock:
        acked = dict(ledger.acked)
        maybe = {k: set(v) for k, v in ledger.maybe.items()}
        acked_participants = set(ledger.participants)

    lost, wrong, phantom, unacked_present = [], [], [], 0
    for pair, value in acked.items():
        if pair not in votes:
            lost.append((pair, value))
        elif votes[pair][0] != value and votes[pair][0] not in maybe.get(pair, set()):
            wrong.append((pair, value, votes[pair][0]))
    for pair, (value, _) in votes.items():
        if pair not in acked:
            if value in maybe.get(pair, set()):
                unacked_present += 1
            else:
                phantom.append((pair, value))

    mismatched = []  # vote row vs the event it names and the latest event of its pair
    for pair, (value, event_id) in votes.items():
        event = events.get(event_id)
        if event is None:
            mismatched.append((pair, "event_id", event_id, "no such vote_event"))
        elif (event[0], event[1]) != pair or event[2] != value or event[3] != vote_conversation[pair]:
            mismatched.append((pair, "event", event_id, event))
        if latest.get(pair) != event_id:
            mismatched.append((pair, "latest event", latest.get(pair), "row names", event_id))
    logged_without_row = sorted(set(latest) - set(votes))

    return {
        "integrity": integrity,
        "foreign_keys": foreign,
        "lost": lost,
        "wrong_value": wrong,
        "phantom": phantom,
        "vote_vs_event": mismatched,
        "event_without_vote": logged_without_row,
        "missing_participants": sorted(acked_participants - participants),
        # counts, not findings
        "_votes": len(votes),
        "_events": len(events),
        "_unacked_present": unacked_present,
    }


def assert_clean(findings: dict, where: str, server_log: Path) -> None:
    bad = {k: v for k, v in findings.items() if not k.startswith("_") and v}
    if bad:
        details = "\n".join(f"  {k}: {len(v)} e.g. {v[:10]}" for k, v in bad.items())
        tail = server_log.read_text(errors="replace")[-3000:] if server_log.exists() else ""
        pytest.fail(f"{where}: the database is wrong (seed {BASE_SEED}):\n{details}\nserver log tail:\n{tail}")


# ---------------------------------------------------------------------------
# Setting up


def setup_conversation(charter, server, token: str) -> tuple[str, list[int]]:
    slug = "crash"
    status, _, body = charter.request(server.port, "POST", "/api/v1/conversations", token=token, body={
        "slug": slug, "title": "Crash test", "question": "Does every acknowledged vote survive kill -9?"})
    assert status == 201, f"create conversation: HTTP {status} {body[:300]!r}"
    texts = [f"Crash-test statement number {i}" for i in range(1, STATEMENTS + 1)]
    status, _, body = charter.request(server.port, "POST", f"/api/v1/conversations/{slug}/seeds",
                                      token=token, body={"statements": texts})
    assert status == 201, f"seed statements: HTTP {status} {body[:300]!r}"
    added = json.loads(body)["added"]
    assert len(added) == STATEMENTS, f"expected {STATEMENTS} seeds added, got {len(added)}: {body[:300]!r}"
    return slug, [int(s["id"]) for s in added]


def healthz_votes(charter, server) -> int | None:
    status, _, body = charter.request(server.port, "GET", "/healthz")
    assert status == 200, f"/healthz of the server on port {server.port}: HTTP {status} {body[:300]!r}"
    return json.loads(body).get("votes")


def analysis_leaders(charter, servers) -> list[int] | None:
    """The indexes of the servers whose /healthz says they run the analysis (one server of those
    sharing a PostgreSQL database does); None when /healthz does not say."""
    reports = []
    for srv in servers:
        status, _, body = charter.request(srv.port, "GET", "/healthz")
        assert status == 200, f"/healthz of the server on port {srv.port}: HTTP {status} {body[:300]!r}"
        reports.append(json.loads(body).get("analysis_leader"))
    if any(r is None for r in reports):
        return None
    return [i for i, leading in enumerate(reports) if leading]


def wait_for_one_leader(charter, servers, timeout: float = 30.0) -> int | None:
    """Polls until exactly one of `servers` runs the analysis; its index (None if not reported)."""
    deadline = time.monotonic() + timeout
    while True:
        leaders = analysis_leaders(charter, servers)
        if leaders is None or len(leaders) == 1:
            return leaders[0] if leaders else None
        assert time.monotonic() < deadline, (
            f"{len(leaders)} servers run the analysis after {timeout:.0f} s (ports "
            f"{[servers[i].port for i in leaders]}); exactly one should")
        time.sleep(0.1)


def restart_and_prove_it_serves(charter, server, slug, statements, ledger, findings, rng, others=()) -> None:
    """Restarts the killed `server`; it (and every server in `others`, which share its database)
    reports the vote count the database held, and takes a new vote."""
    server.start()
    for srv in (server, *others):
        votes = healthz_votes(charter, srv)
        assert votes == findings["_votes"], (
            f"/healthz after restart reports {votes} votes on port {srv.port}; the database held "
            f"{findings['_votes']} when read after the crash")
    p = register(server.port, slug, request=charter.request)
    ledger.participant(p.pid)
    statement, value = rng.choice(statements), rng.choice(list(VALUES.values()))
    status, _, body = charter.request(server.port, "POST", f"/api/v1/conversations/{slug}/votes", token=p.token,
                                      body={"statement": statement, "vote": value_name(value)})
    problem = check_vote_response(status, body, statement, value, 201)
    assert problem is None, f"the first vote after restart failed: {problem}"
    ledger.ack((p.pid, statement), value)
    for srv in others:
        votes = healthz_votes(charter, srv)
        assert votes == findings["_votes"] + 1, (
            f"/healthz on port {srv.port} reports {votes} votes after a new vote through the restarted server on "
            f"port {server.port}; expected {findings['_votes'] + 1}")
    if others:
        wait_for_one_leader(charter, [server, *others])


# ---------------------------------------------------------------------------
# Load: steady voting


def steady_worker(charter, port, slug, statements, rng, ledger, killed, stop_at, stop=None):
    """Votes on the server at `port` until `stop_at` (or `stop` is set, or the connection fails).
    A connection failure is an error unless `killed` is set (the server at `port` was killed)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    p: Participant | None = None
    budget = 0
    try:
        while time.monotonic() < stop_at and not (stop is not None and stop.is_set()):
            if p is None or len(p.voted) >= budget:
                try:
                    p = register(port, slug, conn=conn, request=charter.request)
                except CONNECTION_ERRORS as error:
                    if not killed.is_set():
                        ledger.error(f"register failed before the kill: {error!r}")
                    return
                except AssertionError as error:
                    ledger.error(str(error))
                    return
                ledger.participant(p.pid)
                budget = rng.randint(5, len(statements))
            statement, value, expected = plan_vote(rng, p, statements)
            try:
                status, _, body = charter.request(
                    port, "POST", f"/api/v1/conversations/{slug}/votes", token=p.token, conn=conn,
                    body={"statement": statement, "vote": value_name(value)})
            except CONNECTION_ERRORS as error:
                if killed.is_set():
                    ledger.unacked((p.pid, statement), value)
                else:
                    ledger.error(f"vote failed before the kill: {error!r}")
                return
            problem = check_vote_response(status, body, statement, value, expected)
            if problem:
                ledger.error(f"participant {p.pid} statement {statement}: {problem}")
                return
            ledger.ack((p.pid, statement), value, port)
            p.voted[statement] = value
            p.last = statement
    finally:
        conn.close()


def crash_steady(charter, servers, victim, slug, statements, ledger, rng) -> dict:
    """STEADY_THREADS clients on each server; `servers[victim]` is killed. Every other server
    (one sharing a PostgreSQL database) must keep serving its clients without a single failure
    until it has acknowledged SURVIVOR_ACKS votes after the kill; then its clients stop."""
    killed = threading.Event()
    stop = threading.Event()
    before = ledger.acked_requests
    delay = rng.uniform(0.2, 2.0)
    stop_at = time.monotonic() + delay + 20
    survivors = [srv for i, srv in enumerate(servers) if i != victim]

    def client(i, srv) -> threading.Thread:
        # A survivor's clients are never told of a kill: any failure of theirs is an error.
        mine = i == victim
        return threading.Thread(target=steady_worker, daemon=True,
                                args=(charter, srv.port, slug, statements, random.Random(rng.random()), ledger,
                                      killed if mine else threading.Event(), stop_at if mine else stop_at + 60, stop))

    threads = [client(i, srv) for i, srv in enumerate(servers) for _ in range(STEADY_THREADS)]
    for t in threads:
        t.start()
    # The random moment of the crash is the point of the test: wait for it, then kill.
    killed.wait(delay)
    leaders = analysis_leaders(charter, servers) if survivors else None
    killed.set()
    servers[victim].kill9()
    survivor_acks = []
    for srv in survivors:
        at_kill = ledger.acked_by(srv.port)
        served = ledger.wait_acked_by(srv.port, at_kill + SURVIVOR_ACKS, timeout=60)
        survivor_acks.append(ledger.acked_by(srv.port) - at_kill)
        assert served and not ledger.errors, (
            f"the server on port {srv.port} acknowledged {survivor_acks[-1]} votes in 60 s after the other one's "
            f"kill (wanted {SURVIVOR_ACKS}); errors: {ledger.errors[:5]}")
    # The analysis goes on too: one of the survivors runs it (the killed one may have).
    leader = wait_for_one_leader(charter, survivors) if survivors else None
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a client thread hung after the kill"
    info = {"delay": delay, "acked": ledger.acked_requests - before}
    if survivors:
        info["survivor_acks"] = min(survivor_acks)
        info["leader_killed"] = leaders is not None and victim in leaders
        info["leader_after"] = None if leader is None else servers.index(survivors[leader])
    return info


# ---------------------------------------------------------------------------
# Load: a pipelined burst


def read_response(stream) -> tuple[int, bytes]:
    line = stream.readline()
    if not line:
        raise ConnectionError("connection closed")
    parts = line.split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise http.client.BadStatusLine(line)
    status = int(parts[1])
    length = 0
    while True:
        header = stream.readline()
        if not header:
            raise ConnectionError("connection closed in the headers")
        if header in (b"\r\n", b"\n"):
            break
        name, _, value = header.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = stream.read(length) if length else b""
    if len(body) != length:
        raise ConnectionError("connection closed in the body")
    return status, body


def burst_worker(port, slug, p, plan, ledger, killed, barrier, sent):
    payload = b""
    for statement, value, _ in plan:
        body = json.dumps({"statement": statement, "vote": value_name(value)}).encode()
        payload += (f"POST /api/v1/conversations/{slug}/votes HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    f"Authorization: Bearer {p.token}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    stream = sock.makefile("rb")
    done = 0
    try:
        barrier.wait(timeout=30)
        try:
            sock.sendall(payload)
        finally:
            sent.release()
        for statement, value, expected in plan:
            try:
                status, body = read_response(stream)
            except CONNECTION_ERRORS as error:
                if not killed.is_set():
                    ledger.error(f"burst response failed before the kill: {error!r}")
                break
            problem = check_vote_response(status, body, statement, value, expected)
            if problem:
                ledger.error(f"burst participant {p.pid} statement {statement}: {problem}")
                break
            ledger.ack((p.pid, statement), value)
            done += 1
    except CONNECTION_ERRORS as error:
        if not killed.is_set():
            ledger.error(f"burst send failed before the kill: {error!r}")
    finally:
        for statement, value, _ in plan[done:]:
            ledger.unacked((p.pid, statement), value)
        stream.close()
        sock.close()


def crash_burst(charter, servers, victim, slug, statements, ledger, rng) -> dict:
    assert len(servers) == 1, "the burst variant runs on one server"
    server = servers[victim]
    killed = threading.Event()
    before_acked, before_unacked = ledger.acked_requests, ledger.unacked_requests
    participants = []
    for _ in range(BURST_CONNECTIONS):
        p = register(server.port, slug, request=charter.request)
        ledger.participant(p.pid)
        chosen = rng.sample(statements, BURST_DEPTH - 1)
        plan = [(s, rng.choice(list(VALUES.values())), 201) for s in chosen]
        last, value, _ = plan[-1]
        plan.append((last, rng.choice([v for v in VALUES.values() if v != value]), 200))  # change the last vote
        participants.append((p, plan))
    barrier = threading.Barrier(BURST_CONNECTIONS)
    sent = threading.Semaphore(0)
    threads = [threading.Thread(target=burst_worker, daemon=True,
                                args=(server.port, slug, p, plan, ledger, killed, barrier, sent))
               for p, plan in participants]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    for _ in threads:
        assert sent.acquire(timeout=max(0.0, deadline - time.monotonic())), "burst clients did not send in time"
    # Kill while the burst is being answered: once a random share (1-50 %) of it has been
    # acknowledged, then 0-5 ms later.
    total = BURST_CONNECTIONS * BURST_DEPTH
    target = rng.randint(1, total // 2)
    assert ledger.wait_acked(before_acked + target, timeout=60), (
        f"only {ledger.acked_requests - before_acked} of {total} pipelined votes were acknowledged in 60 s; "
        f"errors: {ledger.errors[:5]}")
    delay = rng.uniform(0, 0.005)
    killed.wait(delay)
    acked_at_kill = ledger.acked_requests - before_acked
    killed.set()
    server.kill9()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a burst client hung after the kill"
    return {"delay": delay, "after_acks": target, "acked": ledger.acked_requests - before_acked,
            "in_flight_at_kill": BURST_CONNECTIONS * BURST_DEPTH - acked_at_kill,
            "unacked": ledger.unacked_requests - before_unacked}


# ---------------------------------------------------------------------------
# The campaign


def campaign(charter, database: Path | str, name: str, crash, servers: int = 1) -> None:
    """RUNS crash runs on `database` (a SQLite file or a postgres:// URL) with `servers` servers
    sharing it; run k kills server k % servers."""
    token = charter.organiser_token(database)
    started = [charter.server(database, name=f"{name}-{i}" if servers > 1 else None).start() for i in range(servers)]
    slug, statements = setup_conversation(charter, started[0], token)
    ledger = Ledger()
    runs = []
    for run in range(RUNS):
        rng = random.Random(BASE_SEED * 1000 + run)
        victim = run % servers
        server = started[victim]
        info = crash(charter, started, victim, slug, statements, ledger, rng)
        assert not ledger.errors, (
            f"{name} run {run + 1} (seed {BASE_SEED}): unexpected results before the kill:\n  "
            + "\n  ".join(ledger.errors[:20]))
        findings = check_database(database, ledger)
        assert_clean(findings, f"{name} run {run + 1} after SIGKILL at {info['delay']:.3f} s", server.log_path)
        info.update(votes=findings["_votes"], events=findings["_events"], unacked_present=findings["_unacked_present"])
        runs.append(info)
        others = [srv for srv in started if srv is not server]
        restart_and_prove_it_serves(charter, server, slug, statements, ledger, findings, rng, others)

    for server in started:
        status = server.stop()
        assert status == 0, f"SIGTERM after the last restart: exit status {status}, expected 0 (log {server.log_path})"
    findings = check_database(database, ledger)
    assert_clean(findings, f"{name} after the final graceful stop", started[0].log_path)

    lost = len(findings["lost"]) + len(findings["wrong_value"])
    unacked_present = findings["_unacked_present"]
    line = (f"crash[{name}]: runs={RUNS} acknowledged_votes={ledger.acked_requests} "
            f"acknowledged_pairs={len(ledger.acked)} lost_votes={lost} "
            f"unacknowledged_requests={ledger.unacked_requests} unacknowledged_but_stored={unacked_present} "
            f"vote_rows={findings['_votes']} vote_events={findings['_events']} seed={BASE_SEED}")
    per_run = "; ".join(
        (f"#{i + 1}: kill {r['delay'] * 1000:.1f} ms after ack #{r['after_acks']}" if "after_acks" in r
         else f"#{i + 1}: kill at {r['delay'] * 1000:.0f} ms") + f", {r['acked']} acked"
        + (f", {r['in_flight_at_kill']} in flight" if "in_flight_at_kill" in r else "")
        + (f", server {i % servers}{' (the analysis leader)' if r['leader_killed'] else ''} killed, the other "
           f"acked {r['survivor_acks']} after and leads the analysis: {r['leader_after'] is not None}"
           if "survivor_acks" in r else "")
        for i, r in enumerate(runs))
    charter.summary.extend([line, f"  {per_run}"])
    print(line)
    print("  " + per_run)
    assert lost == 0
    assert ledger.acked_requests > RUNS, f"too few votes were acknowledged to prove anything: {ledger.acked_requests}"
    return runs


def test_kill9_during_steady_voting(charter, workdir):
    campaign(charter, workdir / "steady.sqlite", "steady", crash_steady)


def test_kill9_right_after_a_burst(charter, workdir):
    runs = campaign(charter, workdir / "burst.sqlite", "burst", crash_burst)
    # Otherwise the variant did not test requests in flight at all.
    assert any(r["in_flight_at_kill"] > 0 for r in runs), (
        f"the server answered every pipelined request before the kill in all {RUNS} runs: {runs}")


def test_kill9_on_postgres_with_two_servers(charter, postgres_database):
    """Two servers on one PostgreSQL database, load through both; each run kills one of them
    (they take turns) while the other keeps serving, then restarts it."""
    runs = campaign(charter, postgres_database, "postgres-two-servers", crash_steady, servers=2)
    assert all(r["survivor_acks"] >= SURVIVOR_ACKS for r in runs), runs
