"""Two `charter serve` processes on one PostgreSQL database share every vote.

    python3 -m pytest Tests/Faults/test_postgres_servers.py -q -p no:cacheprovider

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
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import random
import re
import sys
import threading
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from charter_postgres import psql_snapshot  # noqa: E402

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
