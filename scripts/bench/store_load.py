#!/usr/bin/env python3
"""How fast the analysis reads a stored conversation's votes from SQLite (issue 18).

Makes a Charter SQLite database (`charter import polis` of a small shared conversation, for the
schema and one conversation), adds a synthetic conversation of --votes votes (participants with
--per-participant votes each over --statements statements) straight into its tables, then runs
`charter analyze SLUG --json` and reports `timing_ms.read` (the store's snapshot of the votes) as
votes per second, with the other stages.

    python3 scripts/bench/store_load.py [--votes 1000000,10000000] [--statements 2000]
                                        [--per-participant 50] [--dir DIR] [--keep]
CHARTER_BIN picks the binary (default .build/release/charter).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def build_database(path: Path, charter: str, votes: int, statements: int, per: int) -> str:
    polis = Path(__file__).resolve().parents[3] / "shared/polis-opendata/bg2050-volunteers"
    subprocess.run([charter, "import", "polis", str(polis), "--database", str(path)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("PRAGMA synchronous = OFF")
    slug = f"load-{votes}"
    now = "2026-01-01 00:00:00.000"
    db.execute(
        "INSERT INTO conversation (slug, title, question, state, participant_statements_allowed, strict_moderation,"
        " max_statement_length, created_at) VALUES (?, ?, ?, 'open', 0, 0, 500, ?)", (slug, slug, slug, now))
    conversation = db.execute("SELECT id FROM conversation WHERE slug = ?", (slug,)).fetchone()[0]
    # Other conversations' rows in between, as in a live database.
    first_statement = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM statement").fetchone()[0]
    db.executemany(
        "INSERT INTO statement (id, conversation_id, text, duplicate_key, is_seed, moderation, created_at)"
        " VALUES (?, ?, ?, ?, 1, 'accepted', ?)",
        ((first_statement + j, conversation, f"s{j}", f"s{j}", now) for j in range(statements)))
    participants = (votes + per - 1) // per
    first_participant = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM participant").fetchone()[0]
    db.executemany(
        "INSERT INTO participant (id, conversation_id, anonymous_id, created_at) VALUES (?, ?, ?, ?)",
        ((first_participant + i, conversation, f"a{i}", now) for i in range(participants)))
    db.execute(
        "INSERT INTO vote_event (conversation_id, participant_id, statement_id, value, created_at)"
        " VALUES (?, ?, ?, 1, ?)", (conversation, first_participant, first_statement, now))
    event = db.execute("SELECT MAX(id) FROM vote_event").fetchone()[0]
    rng = random.Random(18)

    def rows():
        made = 0
        for i in range(participants):
            for j in sorted(rng.sample(range(statements), min(per, statements, votes - made))):
                yield (first_participant + i, first_statement + j, conversation, rng.choice((-1, 0, 1)), event, now)
                made += 1
            if made >= votes:
                return

    db.executemany(
        "INSERT INTO vote (participant_id, statement_id, conversation_id, value, event_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)", rows())
    db.commit()
    db.close()
    return slug


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--votes", default="1000000,10000000")
    parser.add_argument("--statements", type=int, default=2000)
    parser.add_argument("--per-participant", type=int, default=50)
    parser.add_argument("--dir")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    repo = Path(__file__).resolve().parents[2]
    charter = os.environ.get("CHARTER_BIN") or str(repo / ".build/release/charter")
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="charter-store-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print("| votes | read ms | votes/s | matrix ms | pca ms | clustering ms | statistics ms | wall s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for votes in [int(v) for v in args.votes.split(",")]:
        path = workdir / f"load-{votes}.sqlite"
        if not path.exists():
            t = time.perf_counter()
            slug = build_database(path, charter, votes, args.statements, args.per_participant)
            print(f"built {path} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        else:
            slug = f"load-{votes}"
        # Once to warm the page cache (the analysis reads a database the server has open).
        for _ in range(2):
            t = time.perf_counter()
            out = subprocess.run([charter, "analyze", slug, "--database", str(path), "--json"], check=True,
                                 capture_output=True).stdout
            wall = time.perf_counter() - t
        timing = json.loads(out)["timing_ms"]
        # A binary from before `timing_ms.read`: everything but the analysis (an upper bound).
        read = timing.get("read") or (wall * 1000 - timing["total"])
        rate = votes / (read / 1000) if read else float("nan")
        print(f"| {votes:,} | {read:.0f} | {rate:,.0f} | {timing['matrix']:.0f} | {timing['pca']:.0f} | "
              f"{timing['clustering']:.0f} | {timing['statistics']:.0f} | {wall:.1f} |", flush=True)
        if not args.keep:
            path.unlink(missing_ok=True)
            for suffix in ("-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
