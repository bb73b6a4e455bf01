#!/usr/bin/env python3
"""The machine's SQLite limit for votes: how fast SQLite itself commits what a vote writes.

A vote is one INSERT into the append-only `vote_event` log and one upsert of the current `vote`
row naming that event, in Charter's own schema (copied from a Charter database with
--schema-from, else the copy below), in WAL mode with synchronous = FULL and foreign keys on,
as the server runs it. The votes are committed in transactions of 1, 10, 100 and 1000 votes
(group commit); each batch size runs for about --seconds. Nothing of the server's own work per
vote (reading the conversation, statement, participant and last vote, HTTP, JSON) is in it: this
is the ceiling the server's vote throughput can be held against.

    python3 scripts/bench/sqlite_limit.py [--batches 1,10,100,1000] [--seconds 3] [--dir DIR]
                                          [--schema-from charter.sqlite] [--json]

Prints a Markdown table (or one JSON object with --json); `best` is the SQLite limit.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

# The tables a vote touches, as Charter's migrations create them (used without --schema-from).
SCHEMA = """
CREATE TABLE conversation (
    id INTEGER PRIMARY KEY AUTOINCREMENT, slug TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
    question TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL CHECK (state IN ('open', 'closed')), closes_at DATETIME,
    participant_statements_allowed BOOLEAN NOT NULL, strict_moderation BOOLEAN NOT NULL,
    max_statement_length INTEGER NOT NULL CHECK (max_statement_length > 0),
    min_votes_before_submit INTEGER NOT NULL DEFAULT 0, completion_threshold INTEGER,
    completion_code TEXT, created_at DATETIME NOT NULL);
CREATE TABLE participant (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversation(id) ON DELETE CASCADE,
    xid TEXT, anonymous_id TEXT, created_at DATETIME NOT NULL, source_id TEXT,
    CHECK ((xid IS NULL) != (anonymous_id IS NULL)),
    UNIQUE (conversation_id, xid), UNIQUE (conversation_id, anonymous_id));
CREATE TABLE statement (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversation(id) ON DELETE CASCADE,
    author_id INTEGER REFERENCES participant(id), text TEXT NOT NULL, duplicate_key TEXT NOT NULL,
    is_seed BOOLEAN NOT NULL, is_meta BOOLEAN NOT NULL DEFAULT 0,
    moderation TEXT NOT NULL CHECK (moderation IN ('pending', 'accepted', 'rejected')),
    reason TEXT, created_at DATETIME NOT NULL, source_id TEXT,
    UNIQUE (conversation_id, duplicate_key));
CREATE TABLE vote_event (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversation(id),
    participant_id INTEGER NOT NULL REFERENCES participant(id),
    statement_id INTEGER NOT NULL REFERENCES statement(id),
    value INTEGER NOT NULL CHECK (value IN (-1, 0, 1)), created_at DATETIME NOT NULL);
CREATE INDEX vote_event_by_conversation ON vote_event(conversation_id, id);
CREATE TRIGGER vote_event_is_append_only_update BEFORE UPDATE ON vote_event
    BEGIN SELECT RAISE(ABORT, 'vote_event is append-only'); END;
CREATE TRIGGER vote_event_is_append_only_delete BEFORE DELETE ON vote_event
    BEGIN SELECT RAISE(ABORT, 'vote_event is append-only'); END;
CREATE TABLE vote (
    participant_id INTEGER NOT NULL REFERENCES participant(id),
    statement_id INTEGER NOT NULL REFERENCES statement(id),
    conversation_id INTEGER NOT NULL REFERENCES conversation(id),
    value INTEGER NOT NULL CHECK (value IN (-1, 0, 1)),
    event_id INTEGER NOT NULL REFERENCES vote_event(id), created_at DATETIME NOT NULL,
    PRIMARY KEY (participant_id, statement_id)) WITHOUT ROWID;
CREATE INDEX vote_by_conversation ON vote(conversation_id);
"""

TABLES = ("conversation", "conversation_revision", "participant", "statement", "vote_event", "vote")

INSERT_EVENT = ("INSERT INTO vote_event (id, conversation_id, participant_id, statement_id, value, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)")
UPSERT_VOTE = ("INSERT INTO vote (participant_id, statement_id, conversation_id, value, event_id, created_at) "
               "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (participant_id, statement_id) DO UPDATE SET "
               "value = excluded.value, event_id = excluded.event_id, created_at = excluded.created_at")


def schema_from(path: Path) -> str:
    """The CREATE statements of the vote tables (and their indexes and triggers) of a Charter database."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name IN (%s) "
            "ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, rowid" % ",".join("?" * len(TABLES)), TABLES
        ).fetchall()
    finally:
        db.close()
    tables = {name for kind, name, _, _ in rows if kind == "table"}
    # conversation_revision came with migration v7; older databases lack it and its triggers.
    missing = set(TABLES) - tables - {"conversation_revision"}
    if missing:
        raise SystemExit(f"{path} has no table(s) {sorted(missing)}: not a Charter database?")
    # Tables in dependency order.
    order = {name: i for i, name in enumerate(TABLES)}
    rows.sort(key=lambda r: (0 if r[0] == "table" else 1, order.get(r[2], 99)))
    return ";\n".join(sql for _, _, _, sql in rows) + ";"


def now_text() -> str:
    # GRDB stores a Date as "yyyy-MM-dd HH:mm:ss.SSS" in UTC.
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def prepare(path: Path, schema: str, participants: int, statements: int) -> sqlite3.Connection:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    db.executescript(schema)
    db.execute("PRAGMA foreign_keys = ON")
    stamp = now_text()
    db.execute("BEGIN")
    db.execute(
        "INSERT INTO conversation (id, slug, title, question, state, participant_statements_allowed, "
        "strict_moderation, max_statement_length, created_at) VALUES (1, 'limit', 'SQLite limit', 'Q?', 'open', 1, 0, "
        "140, ?)", (stamp,))
    db.executemany("INSERT INTO participant (id, conversation_id, anonymous_id, created_at) VALUES (?, 1, ?, ?)",
                   [(p, f"anon-{p}", stamp) for p in range(1, participants + 1)])
    db.executemany("INSERT INTO statement (id, conversation_id, text, duplicate_key, is_seed, moderation, created_at) "
                   "VALUES (?, 1, ?, ?, 1, 'accepted', ?)",
                   [(s, f"Statement {s}", f"statement {s}", stamp) for s in range(1, statements + 1)])
    db.execute("COMMIT")
    return db


def measure(db: sqlite3.Connection, batch: int, seconds: float, start_pair: int, participants: int,
            statements: int, first_event: int) -> dict:
    """Commits batches of `batch` new votes for about `seconds`; returns votes/s and commits/s."""
    pair = start_pair
    event = first_event
    votes = commits = 0
    began = time.perf_counter()
    deadline = began + seconds
    while time.perf_counter() < deadline or commits < 3:
        if pair + batch > participants * statements:
            raise SystemExit("ran out of (participant, statement) pairs: raise --statements")
        stamp = now_text()
        events, rows = [], []
        for _ in range(batch):
            p, s = pair % participants + 1, pair // participants + 1
            value = (pair % 3) - 1
            events.append((event, 1, p, s, value, stamp))
            rows.append((p, s, 1, value, event, stamp))
            pair += 1
            event += 1
        db.execute("BEGIN IMMEDIATE")
        db.executemany(INSERT_EVENT, events)
        db.executemany(UPSERT_VOTE, rows)
        db.execute("COMMIT")
        votes += batch
        commits += 1
    elapsed = time.perf_counter() - began
    return {"batch": batch, "votes": votes, "commits": commits, "seconds": round(elapsed, 3),
            "votes_per_second": round(votes / elapsed, 1), "commits_per_second": round(commits / elapsed, 1),
            "ms_per_commit": round(1000 * elapsed / commits, 3), "next_pair": pair, "next_event": event}


def run(batches: list[int], seconds: float, directory: Path, schema: str, participants: int,
        statements: int) -> dict:
    path = directory / "sqlite-limit.sqlite"
    db = prepare(path, schema, participants, statements)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        pair, event = 0, 1
        results = []
        for batch in batches:
            result = measure(db, batch, seconds, pair, participants, statements, event)
            pair, event = result.pop("next_pair"), result.pop("next_event")
            results.append(result)
        check = db.execute("SELECT COUNT(*), (SELECT COUNT(*) FROM vote_event) FROM vote").fetchone()
        assert check[0] == check[1] == pair, f"rows written {check} != votes {pair}"
    finally:
        db.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    best = max(results, key=lambda r: r["votes_per_second"])
    return {"sqlite_version": sqlite3.sqlite_version, "directory": str(directory), "journal_mode": "wal",
            "synchronous": "FULL", "results": results, "best": best}


def markdown(report: dict) -> str:
    lines = [f"SQLite {report['sqlite_version']} in {report['directory']}, WAL, synchronous=FULL: "
             "one vote = a vote_event insert + a vote upsert", "",
             "| votes per commit | votes/s | commits/s | ms per commit |", "|---:|---:|---:|---:|"]
    for r in report["results"]:
        lines.append(f"| {r['batch']} | {r['votes_per_second']:,.0f} | {r['commits_per_second']:,.0f} | "
                     f"{r['ms_per_commit']:.3f} |")
    lines += ["", f"SQLite limit (best): {report['best']['votes_per_second']:,.0f} votes/s "
              f"at {report['best']['batch']} votes per commit"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", default="1,10,100,1000")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per batch size")
    parser.add_argument("--dir", type=Path, default=None, help="where the database goes (default: a temp folder)")
    parser.add_argument("--schema-from", type=Path, default=None, help="copy the schema of this Charter database")
    parser.add_argument("--participants", type=int, default=5000)
    parser.add_argument("--statements", type=int, default=2000)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",") if b]
    schema = schema_from(args.schema_from) if args.schema_from else SCHEMA
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
        report = run(batches, args.seconds, args.dir, schema, args.participants, args.statements)
    else:
        with tempfile.TemporaryDirectory(prefix="sqlite-limit-", dir=os.environ.get("TMPDIR")) as tmp:
            report = run(batches, args.seconds, Path(tmp), schema, args.participants, args.statements)
    print(json.dumps(report) if args.json else markdown(report))


if __name__ == "__main__":
    main()
