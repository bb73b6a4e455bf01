#!/usr/bin/env python3
"""The machine's PostgreSQL limit for votes: how fast PostgreSQL itself commits what a vote writes.

The PostgreSQL counterpart of sqlite_limit.py, after scripts/postgres/raw-insert-bench: a vote is
one INSERT into the append-only `vote_event` log and one upsert of the current `vote` row naming
that event, in Charter's own schema (URL must name a database Charter has migrated, e.g. with
`charter admin create-organiser --database URL`, and holding no votes), every commit durable
(`synchronous_commit = on` for every session; the server's fsync setting is reported). pgbench
(extended protocol, as a driver binds parameters) commits votes, one statement per transaction
(the event inserts and the upserts together, over generate_series), for about --seconds per case:
every batch size (votes per commit) with every client count, each case on empty vote tables, no
(participant, statement) pair twice within a case unless the case outgrows participants x
statements. Nothing of Charter's own work per vote is in it: this is the ceiling a
PostgreSQL-backed Charter's vote rate can be held against. The best batched case (more than one
vote per commit) is the limit, `best`.

    python3 scripts/bench/postgres_limit.py URL [--batches 1,100] [--clients 1,8] [--seconds 3]
                                            [--participants 5000] [--statements 200] [--json]

It adds a conversation (slug `postgres-limit`), its participants and statements, and leaves the
vote tables empty at the end (TRUNCATE): use a scratch database (scripts/bench/votes makes a
fresh one and drops it afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SLUG = "postgres-limit"


def tool(name: str) -> str:
    """A PostgreSQL client program: on PATH, else Debian's PostgreSQL 15 directory."""
    found = shutil.which(name)
    if found:
        return found
    debian = f"/usr/lib/postgresql/15/bin/{name}"
    if os.access(debian, os.X_OK):
        return debian
    raise SystemExit(f"postgres_limit: no {name} (Debian: apt-get install postgresql-client)")


ENV = {**os.environ, "PGOPTIONS": "-c synchronous_commit=on"}


def sql(url: str, *commands: str) -> list[list[str]]:
    """Runs commands with psql (one session, ON_ERROR_STOP); the rows of their output, fields split on |."""
    argv = [tool("psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url]
    for command in commands:
        argv += ["-c", command]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=ENV).stdout
    return [line.split("|") for line in out.splitlines() if line]


def prepare(url: str, participants: int, statements: int) -> tuple[int, int, int]:
    """The conversation, participants and statements the votes name: (conversation id, first
    participant id, first statement id); the ids of each are consecutive."""
    tables = {row[0] for row in sql(url, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    if not {"conversation", "participant", "statement", "vote_event", "vote"} <= tables:
        raise SystemExit("postgres_limit: the database has no Charter schema (migrate it first, e.g. with "
                         "`charter admin create-organiser --database URL`)")
    if sql(url, "SELECT 1 FROM vote_event LIMIT 1") or sql(url, "SELECT 1 FROM conversation WHERE slug = 'postgres-limit'"):
        raise SystemExit("postgres_limit: the database already holds votes or a previous limit's conversation: "
                         "use a fresh database")
    rows = sql(
        url,
        "BEGIN",
        "INSERT INTO conversation (slug, title, question, state, participant_statements_allowed, strict_moderation, "
        f"max_statement_length, created_at) VALUES ('{SLUG}', 'PostgreSQL limit', 'Q?', 'open', TRUE, FALSE, 140, now())",
        "INSERT INTO participant (conversation_id, anonymous_id, created_at) "
        f"SELECT c.id, 'limit-' || g, now() FROM conversation c, generate_series(1, {participants}) g "
        f"WHERE c.slug = '{SLUG}' ORDER BY g",
        "INSERT INTO statement (conversation_id, text, duplicate_key, is_seed, moderation, created_at) "
        f"SELECT c.id, 'Statement ' || g, 'statement ' || g, TRUE, 'accepted', now() "
        f"FROM conversation c, generate_series(1, {statements}) g WHERE c.slug = '{SLUG}' ORDER BY g",
        "COMMIT",
        f"SELECT c.id, (SELECT min(id) FROM participant WHERE conversation_id = c.id), "
        f"(SELECT max(id) - min(id) + 1 FROM participant WHERE conversation_id = c.id), "
        f"(SELECT min(id) FROM statement WHERE conversation_id = c.id), "
        f"(SELECT max(id) - min(id) + 1 FROM statement WHERE conversation_id = c.id) "
        f"FROM conversation c WHERE c.slug = '{SLUG}'")
    conversation, p0, p_span, s0, s_span = (int(v) for v in rows[-1])
    if p_span != participants or s_span != statements:
        raise SystemExit("postgres_limit: the participant or statement ids are not consecutive")
    sql(url, "ANALYZE participant", "ANALYZE statement")
    return conversation, p0, s0


def script(batch: int) -> str:
    """One transaction: `batch` new votes, pair g = (n * clients + client_id) * batch + i, i < batch."""
    return f"""\\set n :n + 1
\\set first (:n * :clients + :client_id) * {batch}
\\set last :first + {batch - 1}
WITH e AS (
  INSERT INTO vote_event (conversation_id, participant_id, statement_id, value, created_at)
  SELECT :conversation::bigint, :p0::bigint + g % :participants::bigint,
         :s0::bigint + (g / :participants::bigint) % :statements::bigint, (g % 3) - 1, now()
  FROM generate_series(:first::bigint, :last::bigint) AS g
  RETURNING id, participant_id, statement_id, value, created_at)
INSERT INTO vote (participant_id, statement_id, conversation_id, value, event_id, created_at)
SELECT participant_id, statement_id, :conversation::bigint, value, id, created_at FROM e
ON CONFLICT (participant_id, statement_id) DO UPDATE
  SET value = excluded.value, event_id = excluded.event_id, created_at = excluded.created_at;
"""


def measure(url: str, work: Path, batch: int, clients: int, seconds: float, ids: tuple[int, int, int],
            participants: int, statements: int) -> dict:
    sql(url, "TRUNCATE vote, vote_event")
    path = work / f"batch{batch}.sql"
    path.write_text(script(batch))
    conversation, p0, s0 = ids
    argv = [tool("pgbench"), "-n", "-M", "extended", "-f", str(path), "-c", str(clients), "-j", str(clients),
            "-T", str(max(1, round(seconds))), "-D", "n=-1", "-D", f"clients={clients}",
            "-D", f"conversation={conversation}", "-D", f"p0={p0}", "-D", f"s0={s0}",
            "-D", f"participants={participants}", "-D", f"statements={statements}", url]
    run = subprocess.run(argv, capture_output=True, text=True, env=ENV)
    out = run.stdout + run.stderr
    if run.returncode != 0:
        raise SystemExit(f"postgres_limit: pgbench failed (batch {batch}, {clients} clients):\n{out}")

    def number(pattern: str) -> float | None:
        match = re.search(pattern, out, re.MULTILINE)
        return float(match.group(1)) if match else None

    tps = number(r"^tps = ([0-9.]+)")
    latency = number(r"^latency average = ([0-9.]+) ms")
    processed = number(r"^number of transactions actually processed: ([0-9]+)")
    failed = number(r"^number of failed transactions: ([0-9]+)") or 0
    if tps is None or latency is None or processed is None:
        raise SystemExit(f"postgres_limit: cannot read pgbench's report:\n{out}")
    events, votes = (int(v) for v in sql(url, "SELECT (SELECT count(*) FROM vote_event), (SELECT count(*) FROM vote)")[0])
    if events != processed * batch:
        raise SystemExit(f"postgres_limit: vote_event holds {events} rows, pgbench reported {processed:.0f} "
                         f"transactions of {batch}")
    return {"batch": batch, "clients": clients, "votes": events, "vote_rows": votes, "transactions": int(processed),
            "failed": int(failed), "votes_per_second": round(tps * batch, 1), "commits_per_second": round(tps, 1),
            "ms_per_commit": latency}


def run(url: str, batches: list[int], clients: list[int], seconds: float, participants: int, statements: int) -> dict:
    ids = prepare(url, participants, statements)
    settings = sql(url, "SELECT version(), current_setting('fsync'), current_setting('synchronous_commit'), "
                        "current_setting('wal_sync_method'), current_setting('full_page_writes')")[0]
    if settings[1] != "on":
        print(f"postgres_limit: fsync is {settings[1]} on this server: these commits are NOT durable", file=sys.stderr)
    results = []
    with tempfile.TemporaryDirectory(prefix="postgres-limit-") as tmp:
        try:
            for batch in batches:
                for count in clients:
                    print(f"postgres_limit: {batch} vote(s) per commit, {count} client(s), {seconds:g} s",
                          file=sys.stderr, flush=True)
                    results.append(measure(url, Path(tmp), batch, count, seconds, ids, participants, statements))
        finally:
            sql(url, "TRUNCATE vote, vote_event")
    batched = [r for r in results if r["batch"] > 1] or results
    best = max(batched, key=lambda r: r["votes_per_second"])
    return {"server": settings[0], "fsync": settings[1], "synchronous_commit": settings[2],
            "wal_sync_method": settings[3], "full_page_writes": settings[4], "seconds": seconds,
            "results": results, "best": best}


def markdown(report: dict) -> str:
    lines = [f"{report['server']}: fsync={report['fsync']}, synchronous_commit={report['synchronous_commit']}, "
             f"wal_sync_method={report['wal_sync_method']}; one vote = a vote_event insert + a vote upsert", "",
             "| votes per commit | clients | votes/s | commits/s | ms per commit |", "|---:|---:|---:|---:|---:|"]
    for r in report["results"]:
        lines.append(f"| {r['batch']} | {r['clients']} | {r['votes_per_second']:,.0f} | "
                     f"{r['commits_per_second']:,.0f} | {r['ms_per_commit']:.3f} |")
    best = report["best"]
    lines += ["", f"PostgreSQL limit (best batched): {best['votes_per_second']:,.0f} votes/s at {best['batch']} "
              f"votes per commit, {best['clients']} clients"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="a scratch database Charter has migrated")
    parser.add_argument("--batches", default="1,100", help="votes per commit")
    parser.add_argument("--clients", default="1,8", help="pgbench clients, each batch size with each")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per case")
    parser.add_argument("--participants", type=int, default=5000)
    parser.add_argument("--statements", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    report = run(args.url, [int(b) for b in args.batches.split(",") if b], [int(c) for c in args.clients.split(",") if c],
                 args.seconds, args.participants, args.statements)
    print(json.dumps(report) if args.json else markdown(report))


if __name__ == "__main__":
    main()
