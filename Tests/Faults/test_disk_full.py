"""A real full disk: the database lives on a small tmpfs that a filler file then fills up.
Votes must get a clear 503 (JSON, code storage_unavailable, Retry-After) once nothing more fits,
reads keep working, every vote acknowledged before is still there, nothing half-written, and the
server takes votes again by itself as soon as the filler is deleted: no restart.

Needs permission to mount a tmpfs (root, as in CI); skipped with the reason otherwise."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from charter_process import NO_LIMITS

STATEMENTS = 400
PARTICIPANTS = 60


@pytest.fixture
def small_disk(workdir):
    mount_point = workdir / "disk"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or result.returncode})")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def fill(path: Path, leave: int) -> Path:
    """A filler file that leaves about `leave` bytes free."""
    filler = path / "filler"
    with open(filler, "wb") as f:
        chunk = b"\0" * 65536
        while free_bytes(path) > leave + len(chunk):
            f.write(chunk)
            f.flush()
        os.fsync(f.fileno())
    return filler


def test_a_full_disk_gives_503_loses_nothing_and_heals_when_space_returns(charter, small_disk):
    database = small_disk / "charter.sqlite"
    token = charter.organiser_token(database)
    server = charter.server(database, extra=NO_LIMITS).start()
    port = server.port
    status, _, body = charter.request(port, "POST", "/api/v1/conversations", token=token, body={
        "slug": "full", "title": "Full disk", "question": "Does a full disk lose votes?"})
    assert status == 201, body
    texts = [f"Disk test statement number {i}" for i in range(STATEMENTS)]
    status, _, body = charter.request(port, "POST", "/api/v1/conversations/full/seeds", token=token,
                                      body={"statements": texts})
    assert status == 201, body
    statements = [int(s["id"]) for s in json.loads(body)["added"]]
    tokens = []
    for _ in range(PARTICIPANTS):
        status, _, body = charter.request(port, "POST", "/api/v1/conversations/full/participants", body={})
        assert status == 201, body
        tokens.append(json.loads(body)["token"])

    # Each single-vote commit appends a few 4 kB pages to the WAL, so 1.5 MB holds dozens of votes.
    filler = fill(small_disk, leave=1536 * 1024)
    acknowledged: list[tuple[int, int]] = []  # (participant index, statement)
    refusal = None
    pairs = ((p, s) for s in statements for p in range(PARTICIPANTS))
    for p, s in pairs:
        status, headers, body = charter.request(
            port, "POST", "/api/v1/conversations/full/votes", token=tokens[p], body={"statement": s, "vote": "agree"})
        if status == 201:
            acknowledged.append((p, s))
            continue
        refusal = (status, headers, body, p, s)
        break
    assert refusal is not None, f"the disk never filled up ({len(acknowledged)} votes, {free_bytes(small_disk)} B free)"
    status, headers, body, p, s = refusal
    assert status == 503, (status, body[:300])
    assert json.loads(body)["error"]["code"] == "storage_unavailable", body
    assert headers.get("retry-after") == "5", headers
    assert len(acknowledged) > 30, f"only {len(acknowledged)} votes fitted: the test proves little"

    # Still full: still refused, and reads are still served.
    again, _, _ = charter.request(
        port, "POST", "/api/v1/conversations/full/votes", token=tokens[p], body={"statement": s, "vote": "agree"})
    assert again == 503
    health, _, health_body = charter.request(port, "GET", "/healthz")
    assert health == 200 and json.loads(health_body)["votes"] == len(acknowledged), health_body

    # Space returns: the very next vote is taken, without a restart.
    filler.unlink()
    status, _, body = charter.request(
        port, "POST", "/api/v1/conversations/full/votes", token=tokens[p], body={"statement": s, "vote": "agree"})
    assert status == 201, (status, body[:300])
    acknowledged.append((p, s))

    assert server.stop() == 0
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        votes = db.execute("SELECT COUNT(*) FROM vote").fetchone()[0]
        events = db.execute("SELECT COUNT(*) FROM vote_event").fetchone()[0]
        # Nothing half-written: exactly the acknowledged votes, each with its one event.
        assert votes == events == len(acknowledged), (votes, events, len(acknowledged))
    finally:
        db.close()
    charter.summary.append(f"disk full: {len(acknowledged) - 1} votes fitted, then 503 storage_unavailable; "
                           f"after the filler was deleted the next vote was 201; {votes} votes stored, none lost")
