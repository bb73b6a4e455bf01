"""Small shared helpers: hashing, JSONL, seeding, atomic writes, process state."""
from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import tempfile
from pathlib import Path
from typing import Any, Iterable


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def sha256_files(paths: Iterable[Path]) -> str:
    """One digest over several files (e.g. sharded weights), in name order."""
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda p: p.name):
        h.update(p.name.encode() + b"\0")
        with open(p, "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""):
                h.update(b)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return sha256_file(path)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON: {e}") from None
    return rows


def atomic_write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; results are meant to be read by others, as an ordinary file would be.
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=2, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def stage_rng(seed: int, *labels: object) -> random.Random:
    """A Random stream that depends only on the run seed and the labels (never on the arm),
    so both arms draw the same sequence of choices."""
    key = ":".join([str(seed), *map(str, labels)])
    return random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:16], 16))


def stage_seed(seed: int, *labels: object) -> int:
    return stage_rng(seed, *labels).randrange(2**31 - 1)


def peak_rss_bytes() -> int:
    # Linux reports ru_maxrss in KiB. The peak of the pipeline is the larger of its own peak and
    # that of its biggest finished child (e.g. the pip download), not their sum.
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return int(max(me, kids)) * 1024


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def argmax_seeded(scores, rng, tol: float = 1e-9) -> tuple[int, bool]:
    """Index of the best score; a tie (within tol) is broken by `rng` rather than towards index 0,
    and reported."""
    best = max(scores)
    tied = [i for i, s in enumerate(scores) if s >= best - tol]
    if len(tied) == 1:
        return tied[0], False
    return tied[rng.randrange(len(tied))], True
