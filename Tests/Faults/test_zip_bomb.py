"""Zip bomb: a small zip whose `votes.csv` inflates to 768 MB, posted to the real server's import.

    python3 -m pytest Tests/Faults/test_zip_bomb.py -q -p no:cacheprovider

The zip is built here with zipfile and deflate (level 9): one header line and then one short CSV
line repeated to 768 MiB, compressed to about 750 kB (deflate's ceiling is about 1030:1), plus a
tiny `participants-votes.csv`. (The line is `1,1`: deflate's ratio ceiling needs a repeat
distance of at most 4 bytes; a full 5-column vote line only compresses 337:1.) It is posted to `POST /api/v1/conversations/import` as
`application/zip` with an organiser token, and must be refused with 413 and the JSON error code
`import_too_large`, while the server's peak resident memory stays under 200 MiB (issue 12's
safety bound). Two zips:
  - `honest`: the zip's directory states the real uncompressed size, so the server can refuse
    it from the directory alone;
  - `lying`: the local header and the central directory both claim the entry inflates to 1,000
    bytes (with a matching ratio), so only a limit enforced while inflating stops it.
The peak is the kernel's own high-water mark (VmHWM in /proc/<pid>/status, which covers every
moment of the process's life, so nothing between two samples is missed); VmRSS is also
sampled every 10 ms during the request for the log. Each variant gets a fresh server, so the
high-water mark is the request's. The same process must answer /healthz afterwards. The peaks
are printed in the pytest summary.

Environment: CHARTER_BIN (see conftest.py); CHARTER_ZIP_BOMB_MIB (default 768, the size
`votes.csv` inflates to); CHARTER_ZIP_BOMB_RSS_LIMIT_MIB (default 200).
"""

from __future__ import annotations

import io
import json
import os
import struct
import threading
import time
import zipfile
from pathlib import Path

import pytest

INFLATED_MIB = int(os.environ.get("CHARTER_ZIP_BOMB_MIB", "768"))
RSS_LIMIT_MIB = float(os.environ.get("CHARTER_ZIP_BOMB_RSS_LIMIT_MIB", "200"))
IMPORT_PATH = "/api/v1/conversations/import"

VOTES_HEADER = b"timestamp,datetime,comment-id,voter-id,vote\n"
# A short line: deflate reaches its ~1000:1 ceiling only when the repeat distance is at most 4
# bytes (a 58-byte vote line compresses 337:1, a 2.3 MB zip).
VOTE_LINE = b"1,1\n"
PARTICIPANTS = (b"participant,group-id,n-comments,n-votes,n-agree,n-disagree,0\n"
                b"1,,0,1,1,0,1\n")
LIE = 1000  # the uncompressed size the lying zip claims

_CACHE: dict[str, bytes] = {}


def honest_zip() -> bytes:
    """votes.csv inflating to INFLATED_MIB MiB, streamed through zipfile 1 MiB at a time."""
    if "honest" in _CACHE:
        return _CACHE["honest"]
    target = INFLATED_MIB * 1024 * 1024
    block = VOTE_LINE * (1024 * 1024 // len(VOTE_LINE))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("export/participants-votes.csv", PARTICIPANTS)
        with archive.open("export/votes.csv", "w") as entry:  # deflate, level 9, from the ZipFile
            written = 0
            entry.write(VOTES_HEADER)
            written += len(VOTES_HEADER)
            while written + len(block) <= target:
                entry.write(block)
                written += len(block)
            rest = target - written
            entry.write((VOTE_LINE * (rest // len(VOTE_LINE) + 1))[:rest])
    _CACHE["honest"] = out.getvalue()
    return _CACHE["honest"]


def lying_zip() -> bytes:
    """The honest zip with votes.csv's uncompressed size set to LIE in its local header and in
    the central directory (the CRC stays the real one; a reader that trusts the sizes inflates
    far more than it was told)."""
    if "lying" in _CACHE:
        return _CACHE["lying"]
    data = bytearray(honest_zip())
    name = b"export/votes.csv"
    patched = 0
    # Local file header: signature, then uncompressed size at +22; central directory header:
    # uncompressed size at +24. Both are followed (after fixed fields) by the file name.
    pos = 0
    while (pos := data.find(b"PK\x03\x04", pos)) != -1:
        name_len = struct.unpack_from("<H", data, pos + 26)[0]
        if bytes(data[pos + 30:pos + 30 + name_len]) == name:
            struct.pack_into("<I", data, pos + 22, LIE)
            patched += 1
        pos += 4
    pos = 0
    while (pos := data.find(b"PK\x01\x02", pos)) != -1:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46:pos + 46 + name_len]) == name:
            struct.pack_into("<I", data, pos + 24, LIE)
            patched += 1
        pos += 4
    assert patched == 2, f"patched {patched} headers, expected the local and the central one"
    _CACHE["lying"] = bytes(data)
    return _CACHE["lying"]


def memory_kib(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


class RSSSampler(threading.Thread):
    """VmRSS of `pid` every 10 ms until stopped."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self):
        start = time.monotonic()
        while not self.done.is_set():
            try:
                self.samples.append((time.monotonic() - start, memory_kib(self.pid)["VmRSS"]))
            except (OSError, KeyError):
                return
            self.done.wait(0.01)

    def peak_kib(self) -> int:
        return max((kib for _, kib in self.samples), default=0)


@pytest.mark.parametrize("variant", ["honest", "lying"])
def test_zip_bomb_is_refused_within_memory_bound(charter, workdir, variant):
    bomb = honest_zip() if variant == "honest" else lying_zip()
    with zipfile.ZipFile(io.BytesIO(honest_zip())) as archive:
        inflated = archive.getinfo("export/votes.csv").file_size
    assert inflated == INFLATED_MIB * 1024 * 1024
    assert len(bomb) < 1024 * 1024, f"the bomb should be under 1 MB, it is {len(bomb)} bytes"

    database = workdir / f"bomb-{variant}.sqlite"
    token = charter.organiser_token(database)
    server = charter.server(database).start()
    pid = server.proc.pid
    before = memory_kib(pid)
    sampler = RSSSampler(pid)
    sampler.start()
    started = time.monotonic()
    try:
        status, headers, body = charter.request(
            server.port, "POST", IMPORT_PATH, body=bomb, token=token,
            headers={"Content-Type": "application/zip"}, timeout=120)
    finally:
        elapsed = time.monotonic() - started
        time.sleep(0.05)
        sampler.done.set()
        sampler.join(timeout=5)
    assert server.alive(), f"the server died on the zip bomb ({variant})"
    after = memory_kib(pid)
    peak_mib = after["VmHWM"] / 1024
    line = (f"zip bomb ({variant}): {len(bomb):,} byte zip, votes.csv {inflated / 2**20:.0f} MiB inflated"
            f"{' (directory claims ' + str(LIE) + ' bytes)' if variant == 'lying' else ''}: HTTP {status} in "
            f"{elapsed:.2f} s; server RSS {before['VmRSS'] / 1024:.1f} MiB before, peak (VmHWM) {peak_mib:.1f} MiB, "
            f"peak of {len(sampler.samples)} 10-ms samples {sampler.peak_kib() / 1024:.1f} MiB "
            f"(limit {RSS_LIMIT_MIB:.0f} MiB); pid {pid}")
    charter.summary.append(line)
    print(line)

    assert status == 413, f"expected 413 for the zip bomb ({variant}), got {status}: {body[:500]!r}"
    error = json.loads(body)["error"]
    assert error["code"] == "import_too_large", f"error code {error!r}"
    assert error.get("message"), "the 413 carries no message"
    assert peak_mib < RSS_LIMIT_MIB, (
        f"the server's peak RSS reached {peak_mib:.1f} MiB on the zip bomb ({variant}); the bound is "
        f"{RSS_LIMIT_MIB:.0f} MiB")
    # The same process goes on answering, and imports nothing from the bomb.
    assert server.alive() and server.proc.pid == pid
    health_status, _, health = charter.request(server.port, "GET", "/healthz", timeout=10)
    assert health_status == 200, f"/healthz after the zip bomb: HTTP {health_status} {health[:200]!r}"
    assert json.loads(health)["votes"] == 0, f"the refused import stored votes: {health!r}"
