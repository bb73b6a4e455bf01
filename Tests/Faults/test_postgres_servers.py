"""Several `charter serve` processes on one PostgreSQL database: they share every vote, the
analysis runs on one of them, a run is executed once, and none starts without the secret.

    python3 -m pytest Tests/Faults/test_postgres_servers.py -q -p no:cacheprovider

test_two_servers_share_every_vote:

Servers A and B (same CHARTER_SECRET, own ports, rate limits off) on a new database of the
tests' PostgreSQL server (CHARTER_TEST_POSTGRES_URL, else the cluster scripts/postgres/cluster
keeps in /tmp/charter-test-postgres-$UID; see Tests/charter_postgres.py). The organiser's token
is made with the CLI, the conversation and its seed statements through A. THREADS client
threads each register PARTICIPANTS_PER_THREAD participants, alternately through A and B, and
every participant's votes alternate between A and B too; CHANGE_SHARE of the votes are then
changed through the server that did NOT take them (200, `changed_from` the first value). Every
request must succeed. Then:
  - the database (psql, one snapshot): every acknowledged vote is in `vote` with its last
    acknowledged value, no other vote is; `vote_event` holds exactly one event per acknowledged
    request, each pair's in the order the client sent them; every participant exists;
  - both servers' APIs: each participant's progress (`GET /next`: voted, total; never a
    statement they voted on; 204 exactly when they voted on everything), and the organiser's
    Polis export (`votes.csv` has every event, `participants-votes.csv` each participant's vote
    count), the same from A and from B;
  - a vote acknowledged by one server, repeated through the other, is refused 409
    `duplicate_vote` (both ways); changing a vote that is not the participant's last through
    the other server is refused 409 `vote_not_changeable`; the database is unchanged after;
  - /healthz of A and B reports the database's counts of votes and conversations (and /metrics
    its participants); exactly one of them runs the analysis.

test_the_analysis_is_computed_once_per_change_by_the_leader: A and B with `--analysis-interval
0.2`; once exactly one reports `analysis_leader`, the conversation, its seeds and 240 votes (4
threads) go through the other. Both must serve one analysis (`GET …/analysis`: the same
`computed_at`, `vote_count` = every vote, not stale); a thread polls both /healthz every 50 ms
throughout: the non-leader never reports an analysis computed nor the lead, the leader never loses
it. The leader's `analyses_computed` grows by at most one per interval while the votes came (+3)
and by at most half the votes; once stable for 1 s, 1 s more without votes adds none; one more
vote through the non-leader adds one or two, served by both. Then the leader gets kill -9: the
other must lead within 10 s and serve the analysis of a vote cast after that.

test_a_run_queued_through_one_server_is_executed_once: A and B share one `--runs-directory` and a
stand-in pipeline written into the test's folder (it appends "pid parent-pid run-id" to
executions.log, waits 0.8 s, then runs Tests/CharterPipelineTests/Fixtures/ok-pipeline). A
constitution is published and 4 runs queued through A, followed through B until they end: each
succeeded with a comparison, executions.log has exactly one line per run, the runs folder one
folder per run (none moved aside), each run's `owner_pid` in the database is the server whose
child ran it, no server ran two at once (`--run-concurrency 1`), neither logged an error.

test_a_server_on_postgres_refuses_to_start_without_a_secret: `charter serve --database <url>`
without CHARTER_SECRET (unset or empty) exits non-zero within 10 s naming CHARTER_SECRET; with
`--secret-file` naming a missing or an empty file it exits non-zero naming the file (and does not
make it); with the file filled in it starts.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from charter_postgres import psql, psql_snapshot  # noqa: E402
from charter_process import NO_LIMITS, REPO_ROOT, free_port, stop_process  # noqa: E402

SLUG = "shared"
SEEDS = 24
THREADS = 6
PARTICIPANTS_PER_THREAD = 8
CHANGE_SHARE = 0.2
DUPLICATES = 8  # repeated votes per direction (A to B, B to A)
LEADER_TIMEOUT = 30.0
SEED = int(os.environ.get("CHARTER_POSTGRES_SEED", str(random.SystemRandom().randrange(1, 10**9))))

VALUES = {"agree": 1, "disagree": -1, "pass": 0}
NAMES = {v: k for k, v in VALUES.items()}
CONNECTION_ERRORS = (OSError, http.client.HTTPException)


class Voter:
    """A participant and every request of theirs that a server acknowledged, in order."""

    def __init__(self, pid: int, token: str, registered_via: str):
        self.pid = pid
        self.token = token
        self.registered_via = registered_via
        self.history: dict[int, list[tuple[int, str, int]]] = {}  # statement -> [(value, server, status)]
        self.last: int | None = None  # statement of the last acknowledged vote

    def current(self, statement: int) -> int:
        return self.history[statement][-1][0]


def vote(charter, server, conn, voter: Voter, statement: int, value: int):
    return charter.request(server.port, "POST", f"/api/v1/conversations/{SLUG}/votes", token=voter.token,
                           conn=conn, body={"statement": statement, "vote": NAMES[value]})


def error_code(body: bytes) -> str | None:
    try:
        return json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def client(charter, servers: dict, statements: list[int], index: int, voters: list[Voter], lock, errors: list[str]):
    """Registers PARTICIPANTS_PER_THREAD participants and votes, alternating between the servers."""
    rng = random.Random(SEED * 100 + index)
    names = sorted(servers)
    conns = {name: http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30) for name, srv in servers.items()}

    def fail(message: str) -> None:
        with lock:
            errors.append(f"client {index}: {message}")

    try:
        for i in range(PARTICIPANTS_PER_THREAD):
            via = names[(index + i) % 2]
            status, _, body = charter.request(servers[via].port, "POST", f"/api/v1/conversations/{SLUG}/participants",
                                              {}, conn=conns[via])
            if status != 201:
                return fail(f"register through {via}: HTTP {status} {body[:300]!r}")
            data = json.loads(body)
            voter = Voter(int(data["participant"]["id"]), data["token"], via)
            with lock:
                voters.append(voter)
            # Some vote on every statement, so that /next answers 204 for them.
            for j, statement in enumerate(rng.sample(statements, rng.randint(3, len(statements)))):
                name = names[(index + i + j) % 2]
                value = rng.choice(list(VALUES.values()))
                status, _, body = vote(charter, servers[name], conns[name], voter, statement, value)
                answer = json.loads(body) if status in (200, 201) else {}
                if status != 201 or answer.get("statement") != statement or answer.get("vote") != NAMES[value]:
                    return fail(f"participant {voter.pid} statement {statement} through {name}: "
                                f"HTTP {status} {body[:300]!r}")
                voter.history[statement] = [(value, name, status)]
                voter.last = statement
                if rng.random() < CHANGE_SHARE:
                    # The change goes through the other server: it must know this was the last vote.
                    other = names[1 - names.index(name)]
                    changed = rng.choice([v for v in VALUES.values() if v != value])
                    status, _, body = vote(charter, servers[other], conns[other], voter, statement, changed)
                    answer = json.loads(body) if status in (200, 201) else {}
                    if (status != 200 or answer.get("vote") != NAMES[changed]
                            or answer.get("changed_from") != NAMES[value]):
                        return fail(f"participant {voter.pid} changing statement {statement} from {NAMES[value]} to "
                                    f"{NAMES[changed]} through {other} (cast through {name}): "
                                    f"HTTP {status} {body[:300]!r}")
                    voter.history[statement].append((changed, other, status))
    except CONNECTION_ERRORS as error:
        fail(f"connection failed: {error!r}")
    finally:
        for conn in conns.values():
            conn.close()


def read_database(url: str) -> dict:
    """The conversation's votes, events (in id order) and participants, and the whole database's
    counts, in one snapshot."""
    conversation = f"(SELECT id FROM conversation WHERE slug = '{SLUG}')"
    rows = psql_snapshot(
        url,
        f"SELECT 'vote', participant_id, statement_id, value FROM vote WHERE conversation_id = {conversation}",
        f"SELECT 'event', participant_id, statement_id, value FROM vote_event "
        f"WHERE conversation_id = {conversation} ORDER BY id",
        f"SELECT 'participant', id FROM participant WHERE conversation_id = {conversation}",
        "SELECT 'counts', (SELECT count(*) FROM vote), (SELECT count(*) FROM conversation), "
        "(SELECT count(*) FROM participant), (SELECT count(*) FROM vote_event)",
    )
    votes, events, participants, counts = {}, [], set(), None
    for tag, *fields in rows:
        numbers = [int(f) for f in fields]
        if tag == "vote":
            votes[(numbers[0], numbers[1])] = numbers[2]
        elif tag == "event":
            events.append(tuple(numbers))
        elif tag == "participant":
            participants.add(numbers[0])
        elif tag == "counts":
            counts = dict(zip(["votes", "conversations", "participants", "events"], numbers))
    return {"votes": votes, "events": events, "participants": participants, "counts": counts}


def export(charter, server, token: str) -> dict[str, str]:
    status, headers, body = charter.request(server.port, "GET", f"/api/v1/conversations/{SLUG}/export/polis",
                                            token=token, timeout=60)
    assert status == 200, f"export through port {server.port}: HTTP {status} {body[:300]!r}"
    # The four files, in a folder named by the slug.
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return {name.rsplit("/", 1)[-1]: archive.read(name).decode() for name in archive.namelist()
                if not name.endswith("/")}


def health(charter, server) -> dict:
    status, _, body = charter.request(server.port, "GET", "/healthz")
    assert status == 200, f"/healthz on port {server.port}: HTTP {status} {body[:300]!r}"
    return json.loads(body)


def stored_participants(charter, server) -> int | None:
    status, _, body = charter.request(server.port, "GET", "/metrics")
    assert status == 200, f"/metrics on port {server.port}: HTTP {status} {body[:300]!r}"
    match = re.search(rb"^charter_stored_participants (\d+)$", body, re.M)
    return int(match.group(1)) if match else None


def test_two_servers_share_every_vote(charter, postgres_database):
    url = postgres_database
    token = charter.organiser_token(url)
    servers = {"A": charter.server(url, name="server-a").start(), "B": charter.server(url, name="server-b").start()}
    a, b = servers["A"], servers["B"]
    logs = f"server logs: {a.log_path}, {b.log_path}"

    status, _, body = charter.request(a.port, "POST", "/api/v1/conversations", token=token, body={
        "slug": SLUG, "title": "Two servers", "question": "Does every server see every vote?"})
    assert status == 201, f"create conversation through A: HTTP {status} {body[:300]!r}"
    texts = [f"Shared statement number {i}" for i in range(1, SEEDS + 1)]
    status, _, body = charter.request(a.port, "POST", f"/api/v1/conversations/{SLUG}/seeds", token=token,
                                      body={"statements": texts})
    assert status == 201, f"seed statements through A: HTTP {status} {body[:300]!r}"
    statements = sorted(int(s["id"]) for s in json.loads(body)["added"])
    assert len(statements) == SEEDS, body[:300]
    # B never saw the conversation being made: it reads it from the database.
    status, _, body = charter.request(b.port, "GET", f"/api/v1/conversations/{SLUG}")
    assert status == 200, f"the conversation made through A, read through B: HTTP {status} {body[:300]!r}"
    assert sorted(s["id"] for s in json.loads(body)["statements"]) == statements

    # Votes through both servers.
    voters: list[Voter] = []
    errors: list[str] = []
    lock = threading.Lock()
    started = time.monotonic()
    threads = [threading.Thread(target=client, daemon=True,
                                args=(charter, servers, statements, t, voters, lock, errors)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a client thread hung"
    elapsed = time.monotonic() - started
    assert not errors, f"seed {SEED}: requests failed ({len(errors)}):\n  " + "\n  ".join(errors[:20]) + f"\n{logs}"
    assert len(voters) == THREADS * PARTICIPANTS_PER_THREAD

    acked = {(v.pid, s): h[-1][0] for v in voters for s, h in v.history.items()}
    requests = [(v.pid, s, value, via, status) for v in voters for s, h in v.history.items()
                for value, via, status in h]
    by_server = {name: sum(1 for r in requests if r[3] == name) for name in servers}
    changes = sum(1 for r in requests if r[4] == 200)

    # 1. The database holds every acknowledged vote, with its value, and one event per request.
    db = read_database(url)
    missing = [(pair, value) for pair, value in acked.items() if pair not in db["votes"]]
    wrong = [(pair, value, db["votes"][pair]) for pair, value in acked.items()
             if pair in db["votes"] and db["votes"][pair] != value]
    unsent = sorted(set(db["votes"]) - set(acked))
    logged: dict[tuple[int, int], list[int]] = {}
    for p, s, value in db["events"]:
        logged.setdefault((p, s), []).append(value)
    sent = {(v.pid, s): [value for value, _, _ in h] for v in voters for s, h in v.history.items()}
    event_mismatch = [(pair, sent.get(pair), logged.get(pair)) for pair in set(sent) | set(logged)
                      if sent.get(pair) != logged.get(pair)]
    absent = sorted({v.pid for v in voters} - db["participants"])
    assert not (missing or wrong or unsent or event_mismatch or absent), (
        f"seed {SEED}: the database disagrees with what the servers acknowledged: "
        f"missing {len(missing)} e.g. {missing[:5]}; wrong value {len(wrong)} e.g. {wrong[:5]}; "
        f"never acknowledged {len(unsent)} e.g. {unsent[:5]}; event log differs for {len(event_mismatch)} pairs "
        f"e.g. {event_mismatch[:5]}; participants missing {absent[:5]}\n{logs}")
    assert len(db["events"]) == len(requests)

    # 2. Both servers' APIs show every participant's votes.
    progress_problems = []
    for name, srv in servers.items():
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        try:
            for v in voters:
                status, _, body = charter.request(srv.port, "GET", f"/api/v1/conversations/{SLUG}/next",
                                                  token=v.token, conn=conn)
                voted = len(v.history)
                if status == 204:
                    if voted != SEEDS:
                        progress_problems.append(f"{name}: participant {v.pid} got 204 after {voted} of {SEEDS} votes")
                    continue
                if status != 200:
                    progress_problems.append(f"{name}: participant {v.pid}: HTTP {status} {body[:200]!r}")
                    continue
                data = json.loads(body)
                shown = (data["progress"]["voted"], data["progress"]["total"])
                if shown != (voted, SEEDS):
                    progress_problems.append(f"{name}: participant {v.pid} progress {shown}, voted {voted} of {SEEDS}")
                if data["statement"]["id"] in v.history:
                    progress_problems.append(f"{name}: participant {v.pid} is offered statement "
                                             f"{data['statement']['id']} again")
        finally:
            conn.close()
    assert not progress_problems, f"{len(progress_problems)} problems:\n  " + "\n  ".join(progress_problems[:20])

    exports = {name: export(charter, srv, token) for name, srv in servers.items()}
    for name, files in exports.items():
        rows = list(csv.DictReader(io.StringIO(files["votes.csv"])))
        from_export: dict[tuple[int, int], list[int]] = {}
        for row in rows:
            from_export.setdefault((int(row["voter-id"]), int(row["comment-id"])), []).append(int(row["vote"]))
        assert len(rows) == len(requests) and from_export == sent, (
            f"the export through {name} has {len(rows)} vote events (acknowledged requests: {len(requests)}); "
            f"pairs that differ: {[p for p in set(sent) | set(from_export) if sent.get(p) != from_export.get(p)][:10]}")
        counted = {int(row["participant"]): int(row["n-votes"])
                   for row in csv.DictReader(io.StringIO(files["participants-votes.csv"]))}
        wrong_counts = [(v.pid, len(v.history), counted.get(v.pid)) for v in voters
                        if counted.get(v.pid) != len(v.history)]
        assert not wrong_counts, (
            f"participants-votes.csv through {name}: (participant, voted, n-votes) {wrong_counts[:10]}")
    assert exports["A"]["votes.csv"] == exports["B"]["votes.csv"], "A and B export different votes.csv"

    # 3. A vote one server acknowledged is a duplicate through the other; so is changing a vote
    # that is not the participant's last.
    rng = random.Random(SEED)
    refusals = []
    for taken_by, repeat_through in (("A", "B"), ("B", "A")):
        candidates = [(v, s) for v in voters for s, h in v.history.items() if h[-1][1] == taken_by]
        for v, s in rng.sample(candidates, min(DUPLICATES, len(candidates))):
            status, _, body = vote(charter, servers[repeat_through], None, v, s, v.current(s))
            refusals.append(("duplicate_vote", taken_by, repeat_through, v.pid, s, status, error_code(body)))
    older = [(v, s) for v in voters for s in v.history if s != v.last]
    for v, s in rng.sample(older, min(DUPLICATES, len(older))):
        taken_by = v.history[s][-1][1]
        through = "B" if taken_by == "A" else "A"
        changed = next(x for x in VALUES.values() if x != v.current(s))
        status, _, body = vote(charter, servers[through], None, v, s, changed)
        refusals.append(("vote_not_changeable", taken_by, through, v.pid, s, status, error_code(body)))
    wrong_refusals = [r for r in refusals if r[5] != 409 or r[6] != r[0]]
    assert not wrong_refusals, (
        "repeated votes not refused as expected (expected code, acknowledged by, sent through, participant, "
        f"statement, status, code): {wrong_refusals}")
    after = read_database(url)
    assert after["votes"] == db["votes"] and after["events"] == db["events"], \
        "a refused vote changed the database"

    # 4. Both servers report the database's counts; exactly one runs the analysis.
    counts = after["counts"]
    reported = {name: health(charter, srv) for name, srv in servers.items()}
    for name, srv in servers.items():
        assert reported[name].get("votes") == counts["votes"], (
            f"/healthz of {name} reports {reported[name].get('votes')} votes; the database holds {counts['votes']}")
        assert reported[name].get("conversations") == counts["conversations"], (
            f"/healthz of {name} reports {reported[name].get('conversations')} conversations; "
            f"the database holds {counts['conversations']}")
        participants = stored_participants(charter, srv)
        assert participants == counts["participants"], (
            f"/metrics of {name} reports {participants} participants; the database holds {counts['participants']}")
    leaders = None
    if all("analysis_leader" in h for h in reported.values()):
        deadline = time.monotonic() + LEADER_TIMEOUT
        while True:
            leaders = sorted(name for name, srv in servers.items() if health(charter, srv)["analysis_leader"])
            if len(leaders) == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(leaders) == 1, f"servers running the analysis after {LEADER_TIMEOUT:.0f} s: {leaders}"

    line = (f"postgres[two servers]: participants={len(voters)} acknowledged_requests={len(requests)} "
            f"(new={len(requests) - changes} changes={changes}, through A={by_server['A']} B={by_server['B']}) "
            f"in {elapsed:.1f} s; database: vote_rows={len(db['votes'])} vote_events={len(db['events'])} lost=0; "
            f"/next checked {2 * len(voters)}, exports A=B with {len(requests)} events; "
            f"refused 409: {sum(1 for r in refusals if r[0] == 'duplicate_vote')} duplicate_vote, "
            f"{sum(1 for r in refusals if r[0] == 'vote_not_changeable')} vote_not_changeable; "
            f"/healthz votes A={reported['A']['votes']} B={reported['B']['votes']} database={counts['votes']}; "
            f"analysis leader: {leaders[0] if leaders else 'not reported'}; seed={SEED}")
    charter.summary.append(line)
    print(line)


# --- The analysis leader --------------------------------------------------------------------------

ANALYSIS_INTERVAL = 0.2  # seconds: `--analysis-interval`, the debounce between two analyses
ANALYSIS_SLUG = "analysed"
ANALYSIS_SEEDS = 12
ANALYSIS_PARTICIPANTS = 20
ANALYSIS_THREADS = 4
ANALYSIS_TIMEOUT = 30.0  # for the analysis of the last vote to be served by both servers
STABLE_WINDOW = 1.0  # the leader's count unchanged this long (5 intervals) counts as settled
QUIET_WINDOW = 1.0  # then this long without votes must not add an analysis
TAKEOVER_TIMEOUT = 10.0


def analysis(charter, server, token: str) -> dict:
    status, _, body = charter.request(server.port, "GET", f"/api/v1/conversations/{ANALYSIS_SLUG}/analysis",
                                      token=token)
    assert status == 200, f"analysis through port {server.port}: HTTP {status} {body[:300]!r}"
    return json.loads(body)


def register(charter, server) -> str:
    """A new participant of the analysed conversation, registered through `server`: its token."""
    status, _, body = charter.request(server.port, "POST", f"/api/v1/conversations/{ANALYSIS_SLUG}/participants", {})
    assert status == 201, f"register through port {server.port}: HTTP {status} {body[:300]!r}"
    return json.loads(body)["token"]


def wait_for_one_leader(charter, servers: dict, timeout: float) -> str:
    """The name of the one server reporting `analysis_leader`, once exactly one does."""
    deadline = time.monotonic() + timeout
    while True:
        leaders = sorted(name for name, srv in servers.items() if health(charter, srv)["analysis_leader"])
        if len(leaders) == 1:
            return leaders[0]
        assert time.monotonic() < deadline, f"servers running the analysis after {timeout:.0f} s: {leaders}"
        time.sleep(0.05)


class HealthWatch:
    """Polls /healthz of the servers every 50 ms in a thread, and keeps every answer, so a claim
    such as "the non-leader never computed an analysis" holds throughout, not just at the
    moments the test looked."""

    def __init__(self, charter, servers: dict):
        self.charter, self.servers = charter, servers
        self.samples: list[tuple[float, str, bool, int]] = []  # (time, server, leader, computed)
        self.errors: list[str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self) -> None:
        while not self.stopping.is_set():
            for name, srv in self.servers.items():
                try:
                    data = health(self.charter, srv)
                    self.samples.append((time.monotonic(), name, data["analysis_leader"], data["analyses_computed"]))
                except (AssertionError, *CONNECTION_ERRORS) as error:
                    self.errors.append(f"{name}: {error!r}")
            self.stopping.wait(0.05)

    def __enter__(self) -> "HealthWatch":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)


def cast_votes(charter, server, statements: list[int], rng: random.Random) -> int:
    """ANALYSIS_PARTICIPANTS participants, registered through `server` and voting through it on
    every statement, from ANALYSIS_THREADS threads. Returns the number of votes acknowledged."""
    per_thread = [[] for _ in range(ANALYSIS_THREADS)]
    for i in range(ANALYSIS_PARTICIPANTS):
        per_thread[i % ANALYSIS_THREADS].append([rng.choice(list(VALUES)) for _ in statements])
    counted = [0] * ANALYSIS_THREADS
    errors: list[str] = []

    def work(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            for values in per_thread[index]:
                status, _, body = charter.request(server.port, "POST",
                                                  f"/api/v1/conversations/{ANALYSIS_SLUG}/participants", {}, conn=conn)
                if status != 201:
                    errors.append(f"register: HTTP {status} {body[:300]!r}")
                    return
                data = json.loads(body)
                for statement, value in zip(statements, values):
                    status, _, body = charter.request(server.port, "POST",
                                                      f"/api/v1/conversations/{ANALYSIS_SLUG}/votes",
                                                      token=data["token"], conn=conn,
                                                      body={"statement": statement, "vote": value})
                    if status != 201:
                        errors.append(f"vote on {statement}: HTTP {status} {body[:300]!r}")
                        return
                    counted[index] += 1
        except CONNECTION_ERRORS as error:
            errors.append(f"connection failed: {error!r}")
        finally:
            conn.close()

    threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(ANALYSIS_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a voting thread hung"
    assert not errors, f"votes through port {server.port} failed: {errors[:10]}"
    return sum(counted)


def wait_for_analysis(charter, servers: dict, token: str, votes: int, timeout: float, watch: HealthWatch | None,
                      what: str) -> float:
    """Polls /analysis on every server in `servers` until each serves the same analysis (one
    `computed_at`), of exactly `votes` votes and not stale; returns the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout
    last = {}
    while True:
        last = {name: analysis(charter, srv, token) for name, srv in servers.items()}
        # Every server serves the one stored analysis: the same one (computed_at) from each.
        if (all(a["status"] == "ready" and a.get("vote_count") == votes and not a["stale"] for a in last.values())
                and len({a.get("computed_at") for a in last.values()}) == 1):
            return time.monotonic() - started
        if watch is not None:
            assert not watch.errors, f"/healthz failed while waiting for {what}: {watch.errors[:5]}"
        assert time.monotonic() < deadline, (
            f"{what}: after {timeout:.0f} s the servers serve "
            + ", ".join(f"{n}: status={a['status']} vote_count={a.get('vote_count')} stale={a['stale']} "
                        f"computed_at={a.get('computed_at')}"
                        for n, a in last.items()) + f" (expected {votes} votes, not stale)")
        time.sleep(0.05)


def wait_until_stable(charter, server, window: float, timeout: float) -> int:
    """The server's `analyses_computed` once it has not changed for `window` seconds."""
    deadline = time.monotonic() + timeout
    value = health(charter, server)["analyses_computed"]
    since = time.monotonic()
    while True:
        now = time.monotonic()
        if now - since >= window:
            return value
        assert now < deadline, f"analyses_computed still changing after {timeout:.0f} s (now {value})"
        time.sleep(0.05)
        current = health(charter, server)["analyses_computed"]
        if current != value:
            value, since = current, time.monotonic()


def test_the_analysis_is_computed_once_per_change_by_the_leader(charter, postgres_database):
    url = postgres_database
    token = charter.organiser_token(url)
    extra = [*NO_LIMITS, "--analysis-interval", str(ANALYSIS_INTERVAL)]
    servers = {"A": charter.server(url, extra=extra, name="server-a").start(),
               "B": charter.server(url, extra=extra, name="server-b").start()}
    logs = f"server logs: {servers['A'].log_path}, {servers['B'].log_path}"
    leader_name = wait_for_one_leader(charter, servers, LEADER_TIMEOUT)
    other_name = "B" if leader_name == "A" else "A"
    leader, other = servers[leader_name], servers[other_name]
    rng = random.Random(SEED)

    with HealthWatch(charter, servers) as watch:
        # Everything is written through the server that does not run the analysis.
        status, _, body = charter.request(other.port, "POST", "/api/v1/conversations", token=token, body={
            "slug": ANALYSIS_SLUG, "title": "The analysis leader", "question": "Who computes the analysis?"})
        assert status == 201, f"create conversation through {other_name}: HTTP {status} {body[:300]!r}"
        status, _, body = charter.request(other.port, "POST", f"/api/v1/conversations/{ANALYSIS_SLUG}/seeds",
                                          token=token, body={"statements": [f"Analysed statement number {i}"
                                                                            for i in range(1, ANALYSIS_SEEDS + 1)]})
        assert status == 201, f"seed statements through {other_name}: HTTP {status} {body[:300]!r}"
        statements = sorted(int(s["id"]) for s in json.loads(body)["added"])
        before = health(charter, leader)["analyses_computed"]

        voting_started = time.monotonic()
        votes = cast_votes(charter, other, statements, rng)
        voting_seconds = time.monotonic() - voting_started
        assert votes == ANALYSIS_PARTICIPANTS * ANALYSIS_SEEDS
        served_after = wait_for_analysis(charter, servers, token, votes, ANALYSIS_TIMEOUT, watch,
                                         "the analysis of every vote")
        window = time.monotonic() - voting_started
        settled = wait_until_stable(charter, leader, STABLE_WINDOW, ANALYSIS_TIMEOUT)
        # A quiet period: no vote, so no analysis.
        quiet_end = time.monotonic() + QUIET_WINDOW
        while time.monotonic() < quiet_end:
            now = health(charter, leader)["analyses_computed"]
            assert now == settled, (f"{leader_name} computed {now - settled} analyses in a period without votes "
                                    f"(settled at {settled})\n{logs}")
            time.sleep(0.05)
        grown = settled - before

        # One more vote through the non-leader: at least one more analysis, served by both.
        voter_token = register(charter, other)
        status, _, body = charter.request(other.port, "POST", f"/api/v1/conversations/{ANALYSIS_SLUG}/votes",
                                          token=voter_token, body={"statement": statements[0], "vote": "agree"})
        assert status == 201, f"the extra vote through {other_name}: HTTP {status} {body[:300]!r}"
        wait_for_analysis(charter, servers, token, votes + 1, ANALYSIS_TIMEOUT, watch, "the analysis of one more vote")
        after_one = wait_until_stable(charter, leader, STABLE_WINDOW, ANALYSIS_TIMEOUT)

    samples = watch.samples
    assert not watch.errors, f"/healthz failed: {watch.errors[:5]}\n{logs}"
    other_samples = [s for s in samples if s[1] == other_name]
    leader_samples = [s for s in samples if s[1] == leader_name]
    assert other_samples and leader_samples, "no /healthz samples"
    assert all(s[3] == 0 for s in other_samples), (
        f"the non-leader {other_name} computed analyses: {sorted({s[3] for s in other_samples})}\n{logs}")
    assert not any(s[2] for s in other_samples), f"the non-leader {other_name} reported analysis_leader\n{logs}"
    assert all(s[2] for s in leader_samples), f"the leader {leader_name} lost the lead during the test\n{logs}"

    # Once per change after the debounce: at most one analysis per interval while votes came
    # (plus the seeds' and the last one), and at most half as many as the votes.
    bound = int(window / ANALYSIS_INTERVAL) + 3
    assert 1 <= grown <= bound, (
        f"{leader_name} computed {grown} analyses for {votes} votes over {window:.1f} s "
        f"(interval {ANALYSIS_INTERVAL} s: at most {bound})\n{logs}")
    assert grown * 2 <= votes, f"{grown} analyses for {votes} votes: not debounced\n{logs}"
    one_more = after_one - settled
    assert 1 <= one_more <= 2, f"one more vote led to {one_more} analyses on {leader_name}\n{logs}"

    # The leader dies: the other takes over and analyses a vote cast after that.
    leader.kill9()
    killed = time.monotonic()
    deadline = killed + TAKEOVER_TIMEOUT
    while not health(charter, other)["analysis_leader"]:
        assert time.monotonic() < deadline, (
            f"{other_name} did not take over the analysis within {TAKEOVER_TIMEOUT:.0f} s of the kill\n{logs}")
        time.sleep(0.05)
    takeover = time.monotonic() - killed
    voter_token = register(charter, other)
    status, _, body = charter.request(other.port, "POST", f"/api/v1/conversations/{ANALYSIS_SLUG}/votes",
                                      token=voter_token, body={"statement": statements[-1], "vote": "disagree"})
    assert status == 201, f"the vote after the kill through {other_name}: HTTP {status} {body[:300]!r}"
    after_kill = wait_for_analysis(charter, {other_name: other}, token, votes + 2, ANALYSIS_TIMEOUT, None,
                                   "the new leader's analysis of a vote cast after the kill")
    computed_by_new = health(charter, other)["analyses_computed"]
    assert computed_by_new >= 1, f"{other_name} leads but reports {computed_by_new} analyses computed\n{logs}"

    line = (f"postgres[analysis leader]: leader={leader_name}; {votes} votes through {other_name} in "
            f"{voting_seconds:.1f} s, both served the analysis of all of them {served_after:.1f} s after the last; "
            f"the leader computed {grown} analyses for them (bound {bound} at {ANALYSIS_INTERVAL} s), "
            f"0 in {QUIET_WINDOW:.0f} s without votes, {one_more} for one more vote; {other_name} computed 0 "
            f"({len(other_samples)} /healthz samples); after kill -9 of {leader_name}, {other_name} led in "
            f"{takeover:.1f} s and served the analysis of a new vote {after_kill:.1f} s after it "
            f"({computed_by_new} computed)")
    charter.summary.append(line)
    print(line)


# --- Runs claimed once ------------------------------------------------------------------------------

RUNS = 4
RUN_HOLD = 0.8  # seconds the stand-in pipeline takes, so the other server's queue poll (2 s) finds work
RUNS_TIMEOUT = 60.0
RUN_SLUG = "runs"
OK_PIPELINE = Path(__file__).resolve().parents[1] / "CharterPipelineTests" / "Fixtures" / "ok-pipeline"
FINAL_STATES = ("succeeded", "failed", "cancelled")

STAND_IN = '''#!/usr/bin/env python3
"""Stand-in pipeline of test_a_run_queued_through_one_server_is_executed_once: appends one line
(its pid, its parent's, which is the server that started it, and the run id) to the executions
log, waits a little, then does what Tests/CharterPipelineTests/Fixtures/ok-pipeline does."""
import json, os, runpy, sys, time

LOG = {log!r}
manifest = json.load(open(sys.argv[sys.argv.index("--manifest") + 1]))
fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, ("%d %d %s\\n" % (os.getpid(), os.getppid(), manifest["run_id"])).encode())
os.close(fd)
time.sleep({hold!r})
runpy.run_path({ok!r}, run_name="__main__")
'''


def publish_constitution(charter, server, token: str) -> int:
    """A conversation everyone agrees with, and its constitution published: the version's id."""
    status, _, body = charter.request(server.port, "POST", "/api/v1/conversations", token=token, body={
        "slug": RUN_SLUG, "title": "Runs", "question": "How should an assistant behave?"})
    assert status == 201, f"create conversation: HTTP {status} {body[:300]!r}"
    texts = [f"The assistant should be honest about point number {i}" for i in range(1, 9)]
    status, _, body = charter.request(server.port, "POST", f"/api/v1/conversations/{RUN_SLUG}/seeds", token=token,
                                      body={"statements": texts})
    assert status == 201, f"seed statements: HTTP {status} {body[:300]!r}"
    statements = [int(s["id"]) for s in json.loads(body)["added"]]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        for i in range(20):
            status, _, body = charter.request(server.port, "POST", f"/api/v1/conversations/{RUN_SLUG}/participants",
                                              {}, conn=conn)
            assert status == 201, f"register: HTTP {status} {body[:300]!r}"
            participant = json.loads(body)["token"]
            for statement in statements:
                vote = "disagree" if statement == statements[-1] and i % 2 == 0 else "agree"
                status, _, body = charter.request(server.port, "POST", f"/api/v1/conversations/{RUN_SLUG}/votes",
                                                  token=participant, conn=conn,
                                                  body={"statement": statement, "vote": vote})
                assert status == 201, f"vote: HTTP {status} {body[:300]!r}"
    finally:
        conn.close()
    status, _, body = charter.request(server.port, "POST", f"/api/v1/conversations/{RUN_SLUG}/constitutions",
                                      token=token, body={"rule": "min-group", "threshold": 0.5}, timeout=60)
    assert status == 201, f"publish the constitution: HTTP {status} {body[:300]!r}"
    return int(json.loads(body)["id"])


def test_a_run_queued_through_one_server_is_executed_once(charter, postgres_database, workdir):
    url = postgres_database
    token = charter.organiser_token(url)
    runs_directory = workdir / "runs"
    runs_directory.mkdir()
    executions = workdir / "executions.log"
    pipeline = workdir / "stand-in-pipeline"
    pipeline.write_text(STAND_IN.format(log=str(executions), hold=RUN_HOLD, ok=str(OK_PIPELINE)))
    pipeline.chmod(0o755)
    extra = [*NO_LIMITS, "--runs-directory", str(runs_directory), "--pipeline-command", str(pipeline),
             "--run-concurrency", "1"]
    servers = {"A": charter.server(url, extra=extra, name="server-a").start(),
               "B": charter.server(url, extra=extra, name="server-b").start()}
    a, b = servers["A"], servers["B"]
    logs = f"server logs: {a.log_path}, {b.log_path}"
    by_pid = {srv.proc.pid: name for name, srv in servers.items()}

    constitution = publish_constitution(charter, a, token)
    started = time.monotonic()
    ids = []
    for i in range(RUNS):
        status, _, body = charter.request(a.port, "POST", "/api/v1/runs", token=token,
                                          body={"constitution_id": constitution, "profile": "smoke", "seed": i + 1})
        assert status == 201, f"queue run {i + 1} through A: HTTP {status} {body[:300]!r}"
        ids.append(int(json.loads(body)["id"]))

    # Every run, followed through B.
    deadline = started + RUNS_TIMEOUT
    conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=30)
    try:
        while True:
            runs = {}
            for run_id in ids:
                status, _, body = charter.request(b.port, "GET", f"/api/v1/runs/{run_id}", token=token, conn=conn)
                assert status == 200, f"run {run_id} through B: HTTP {status} {body[:300]!r}"
                runs[run_id] = json.loads(body)
            if all(r["state"] in FINAL_STATES for r in runs.values()):
                break
            assert time.monotonic() < deadline, (
                f"runs not finished after {RUNS_TIMEOUT:.0f} s: "
                f"{ {i: r['state'] for i, r in runs.items()} }\n{logs}")
            time.sleep(0.1)
    finally:
        conn.close()
    elapsed = time.monotonic() - started
    assert a.alive() and b.alive(), f"a server died during the runs\n{logs}"

    not_succeeded = {i: (r["state"], r.get("failure")) for i, r in runs.items() if r["state"] != "succeeded"}
    assert not not_succeeded, f"runs that did not succeed: {not_succeeded}\n{logs}"
    # B shows what the pipeline wrote, whichever server ran it.
    without_results = [i for i, r in runs.items() if not r.get("comparison")]
    assert not without_results, f"runs without a comparison through B: {without_results}\n{logs}"

    # Executed once each: one line per run in the stand-in's log.
    lines = [line.split() for line in executions.read_text().splitlines() if line.strip()]
    executed: dict[int, list[tuple[int, int]]] = {}
    for pid, parent, run_id in lines:
        executed.setdefault(int(run_id), []).append((int(pid), int(parent)))
    assert len(lines) == RUNS and sorted(executed) == sorted(ids) and all(len(e) == 1 for e in executed.values()), (
        f"executions.log holds {len(lines)} lines for {RUNS} runs: "
        f"{ {i: len(e) for i, e in executed.items()} }\n{logs}")
    # Each run's folder once in the shared runs folder; none was prepared twice (moved aside).
    folders = sorted(p.name for p in runs_directory.iterdir())
    assert folders == sorted(str(i) for i in ids), f"runs folder holds {folders}, expected {sorted(ids)}"
    for run_id in ids:
        assert (runs_directory / str(run_id) / "output" / "results.json").is_file(), f"run {run_id}: no results.json"

    # Who ran what: the database's owner of each run is the server whose child the pipeline was,
    # and no server ran more at once than --run-concurrency (1) allows.
    rows = psql(url, "SELECT id, owner_pid, owner_server, extract(epoch FROM started_at), "
                     f"extract(epoch FROM finished_at) FROM comparison_run WHERE id IN ({','.join(map(str, ids))}) "
                     "ORDER BY id")
    owners, spans = {}, {}
    for run_id, owner_pid, owner_server, run_started, run_finished in rows:
        run_id, owner_pid = int(run_id), int(owner_pid)
        assert owner_pid in by_pid, f"run {run_id} owned by pid {owner_pid}, neither server ({by_pid})"
        assert owner_server.split(":")[1] == str(owner_pid), f"run {run_id}: owner {owner_server}, pid {owner_pid}"
        parent = executed[run_id][0][1]
        assert parent == owner_pid, (
            f"run {run_id}: owned by {by_pid[owner_pid]} (pid {owner_pid}) but its pipeline's parent is {parent}")
        owners[run_id] = by_pid[owner_pid]
        spans.setdefault(by_pid[owner_pid], []).append((float(run_started), float(run_finished), run_id))
    for name, intervals in spans.items():
        intervals.sort()
        overlapping = [(x[2], y[2]) for x, y in zip(intervals, intervals[1:]) if y[0] < x[1]]
        assert not overlapping, f"{name} ran runs {overlapping} at once with --run-concurrency 1\n{logs}"
    spread = {name: sum(1 for o in owners.values() if o == name) for name in servers}
    # Neither server logged an error (such as a run whose folder it cannot see).
    logged = [f"{name}: {text}" for name, srv in servers.items()
              for text in srv.log_path.read_text(errors="replace").splitlines()
              if re.search(r"^\S+ (error|critical) ", text)]
    assert not logged, "errors in the server logs:\n  " + "\n  ".join(logged[:20])

    line = (f"postgres[runs]: {RUNS} runs queued through A, followed through B, all succeeded in {elapsed:.1f} s; "
            f"executions.log {len(lines)} lines (one per run); ran on A={spread['A']} B={spread['B']} "
            f"(run -> server: {', '.join(f'{i}:{owners[i]}' for i in ids)}), never two at once on one server")
    charter.summary.append(line)
    print(line)


# --- No server without the secret ---------------------------------------------------------------

REFUSAL_TIMEOUT = 30.0  # a server that has not exited by then is listening: it started
REFUSAL_QUICK = 10.0


def refused_start(charter, url: str, extra: list[str], env: dict) -> tuple[int, float, str]:
    """Runs `charter serve --database url` with `extra` and the environment without any
    CHARTER_SECRET*, plus `env`; returns (exit status, seconds, output). Fails the test, after
    stopping it, if it is still running after REFUSAL_TIMEOUT or answers /healthz."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_SECRET")}
    environment.update(env)
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen([str(charter.binary), "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--database", url, *extra], cwd=REPO_ROOT, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output, _ = proc.communicate(timeout=REFUSAL_TIMEOUT)
    except subprocess.TimeoutExpired:
        stop_process(proc, 10)
        output = proc.stdout.read() if proc.stdout else b""
        pytest.fail(f"charter serve {' '.join(extra)} without a secret still runs after {REFUSAL_TIMEOUT:.0f} s:\n"
                    f"{output.decode(errors='replace')[-2000:]}")
    finally:
        if proc.poll() is None:
            stop_process(proc, 10)
    return proc.returncode, time.monotonic() - started, output.decode(errors="replace")


def test_a_server_on_postgres_refuses_to_start_without_a_secret(charter, postgres_database, workdir):
    url = postgres_database
    cases = []
    # No CHARTER_SECRET, no --secret-file; an empty CHARTER_SECRET is none either.
    for label, extra, env in (("no secret", [], {}), ("CHARTER_SECRET empty", [], {"CHARTER_SECRET": ""})):
        status, seconds, output = refused_start(charter, url, extra, env)
        assert status != 0, f"{label}: charter serve exited 0:\n{output[-2000:]}"
        assert seconds < REFUSAL_QUICK, f"{label}: took {seconds:.1f} s to refuse"
        assert "CHARTER_SECRET" in output, f"{label}: the refusal does not name CHARTER_SECRET:\n{output[-2000:]}"
        cases.append(f"{label}: exit {status} in {seconds:.1f} s")
    # --secret-file naming a file that does not exist: refused (never made, as on SQLite).
    missing = workdir / "no-such.secret"
    status, seconds, output = refused_start(charter, url, ["--secret-file", str(missing)], {})
    assert status != 0, f"--secret-file {missing} (missing): charter serve exited 0:\n{output[-2000:]}"
    assert seconds < REFUSAL_QUICK, f"--secret-file (missing): took {seconds:.1f} s to refuse"
    assert str(missing) in output, f"the refusal does not name the missing file {missing}:\n{output[-2000:]}"
    assert not missing.exists(), f"charter serve made the secret file {missing}"
    cases.append(f"--secret-file missing: exit {status} in {seconds:.1f} s")
    # An empty secret file is refused too.
    empty = workdir / "empty.secret"
    empty.write_text("\n")
    status, seconds, output = refused_start(charter, url, ["--secret-file", str(empty)], {})
    assert status != 0, f"--secret-file {empty} (empty): charter serve exited 0:\n{output[-2000:]}"
    assert str(empty) in output, f"the refusal does not name the empty file {empty}:\n{output[-2000:]}"
    cases.append(f"--secret-file empty: exit {status} in {seconds:.1f} s")
    # The same database with the secret file filled in: the server starts.
    empty.write_text(charter.secret + "\n")
    server = charter.server(url, extra=[*NO_LIMITS, "--secret-file", str(empty)], name="with-secret-file",
                            env={"CHARTER_SECRET": ""}).start()
    assert health(charter, server)["status"] == "ok"
    line = "postgres[no secret]: refused: " + "; ".join(cases) + "; with the secret file filled in it starts"
    charter.summary.append(line)
    print(line)
