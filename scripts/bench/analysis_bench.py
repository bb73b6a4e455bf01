#!/usr/bin/env python3
"""Analysis benchmark: Charter's opinion-group analysis against a numpy + scikit-learn reference.

For each size it makes a deterministic synthetic conversation with three planted opinion groups,
writes the votes as CSV (participant,statement,vote), then

  * runs `$CHARTER_BIN analyze --votes-csv FILE --json` and measures its wall time and peak RSS;
  * runs the reference in a separate Python process (so that its peak RSS is its own): dense
    participant x statement matrix, column-mean imputation, centering, 2-component PCA, KMeans with
    the k Charter chose;
  * compares both groupings with the planted groups (adjusted Rand index).

It prints a Markdown table and, with --output, writes the rows as JSON.
Normally started through scripts/bench/analysis, which installs numpy/scikit-learn and builds the
release binary first. Peak RSS comes from GNU time (/usr/bin/time), else from getrusage in a
small intermediary process (BENCH_NO_GNU_TIME=1 forces the latter).

The JSON expected on Charter's stdout (extra keys are ignored):
  {
    "k": 3,                                   # number of opinion groups chosen
    "timing_ms": {"total": 812.5, ...},       # analysis only, without process start and CSV parsing
    "participants": [
      {"id": 17, "group": 0, "x": -0.41, "y": 1.2, "in_conv": true},
      {"id": 18, "group": null, "x": 0.0, "y": 0.0, "in_conv": false},
      ...
    ]
  }
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SEED = 20251125
GROUP_SHARES = (0.5, 0.3, 0.2)
PASS_RATE = 0.15
DIVISIVE_SHARE = 0.5  # statements on which the groups' agree probabilities are drawn independently

SIZES = {
    # name: (participants, statements, average votes per participant)
    "small": (2_000, 200, 50),
    "medium": (50_000, 2_000, 20),
    "large": (500_000, 5_000, 20),
}

GIB = 1024**3
MIB = 1024**2


# --------------------------------------------------------------------------------------------
# Synthetic data


def generate(name: str, seed: int = SEED):
    """Returns (participant, statement, vote, planted) for the named size, deterministically.

    participant/statement are int64 ids (0-based), vote is int8 in {-1, 0, 1}, planted[i] is the
    planted group of participant i. Rows are sorted by (participant, statement), one per pair.
    """
    n, m, avg = SIZES[name]
    rng = np.random.default_rng([seed, list(SIZES).index(name)])

    # Planted groups: exact shares, shuffled over participant ids.
    sizes = [int(round(share * n)) for share in GROUP_SHARES[:-1]]
    sizes.append(n - sum(sizes))
    planted = np.repeat(np.arange(len(sizes), dtype=np.int8), sizes)
    rng.shuffle(planted)

    # Agree probability of each group on each statement (given the vote is not a pass):
    # divisive statements draw each group's probability independently from a U-shaped Beta
    # (groups tend to take opposite sides); the others share one probability, jittered a little.
    g = len(sizes)
    divisive = rng.random(m) < DIVISIVE_SHARE
    independent = rng.beta(0.4, 0.4, size=(g, m))
    shared = rng.beta(2.0, 2.0, size=m)
    jittered = np.clip(shared + rng.normal(0.0, 0.05, size=(g, m)), 0.01, 0.99)
    profile = np.where(divisive, independent, jittered)

    # Votes per participant: log-normal around the average (heavy-ish tail), at least 1.
    sigma = 0.6
    counts = rng.lognormal(np.log(avg) - sigma**2 / 2, sigma, size=n)
    counts = np.clip(np.rint(counts), 1, m).astype(np.int64)

    participant, statement = _sample_pairs(rng, counts, m)

    u = rng.random(participant.size)
    agree = rng.random(participant.size) < profile[planted[participant], statement]
    vote = np.where(u < PASS_RATE, 0, np.where(agree, 1, -1)).astype(np.int8)
    return participant, statement, vote, planted


def _sample_pairs(rng, counts: np.ndarray, m: int):
    """counts[i] distinct statements for each participant i, uniformly; sorted by (participant, statement)."""
    n = counts.size
    if n * m <= 20_000_000:
        # Small: a random permutation of the statements per participant, keep the first counts[i].
        order = np.argsort(rng.random((n, m), dtype=np.float32), axis=1)
        keep = np.arange(m)[None, :] < counts[:, None]
        rows = np.nonzero(keep)[0]
        cols = order[keep]
        keys = np.sort(rows.astype(np.int64) * m + cols)
    else:
        # Large and sparse (counts << m): draw with replacement, drop duplicates, top up the few
        # participants that lost a draw, repeat.
        keys = _sorted_unique(np.repeat(np.arange(n, dtype=np.int64), counts) * m + rng.integers(0, m, counts.sum()))
        while True:
            deficit = counts - np.bincount(keys // m, minlength=n)
            if not deficit.any():
                break
            extra = np.repeat(np.arange(n, dtype=np.int64), deficit) * m + rng.integers(0, m, deficit.sum())
            # At most deficit[i] new pairs each, so no participant ends above counts[i].
            keys = _sorted_unique(np.concatenate([keys, extra]))
    return keys // m, keys % m


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """np.unique for int64 keys, by sorting (numpy 2's hashing np.unique is slower here)."""
    keys = np.sort(keys)
    keep = np.empty(keys.size, dtype=bool)
    keep[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys[keep]


def _digit_counts(values: np.ndarray) -> np.ndarray:
    """The number of decimal digits of each non-negative value."""
    width = np.ones(values.size, dtype=np.int64)
    bound = 10
    while True:
        more = values >= bound
        if not more.any():
            break
        width += more
        bound *= 10
    return width


def write_csv(path: Path, participant: np.ndarray, statement: np.ndarray, vote: np.ndarray, chunk: int = 2_000_000):
    """Writes `participant,statement,vote` lines fast: digits are laid out with numpy, not printf."""
    with open(path, "wb") as f:
        f.write(b"participant,statement,vote\n")
        for lo in range(0, participant.size, chunk):
            p = participant[lo : lo + chunk]
            s = statement[lo : lo + chunk]
            v = vote[lo : lo + chunk].astype(np.int64)
            wp = _digit_counts(p)
            ws = _digit_counts(s)
            wv = np.where(v < 0, 2, 1)
            length = wp + 1 + ws + 1 + wv + 1
            end = np.cumsum(length)
            start = end - length
            out = np.empty(int(end[-1]), dtype=np.uint8)

            def digits(values, width, offset):
                # Write each value's digits right to left into out[offset : offset + width].
                last = offset + width - 1
                rest = values.copy()
                for k in range(int(width.max())):
                    live = width > k
                    out[last[live] - k] = ord("0") + rest[live] % 10
                    rest //= 10

            digits(p, wp, start)
            out[start + wp] = ord(",")
            digits(s, ws, start + wp + 1)
            at = start + wp + 1 + ws
            out[at] = ord(",")
            at = at + 1
            neg = v < 0
            out[at[neg]] = ord("-")
            out[at + wv - 1] = ord("0") + np.abs(v)
            out[end - 1] = ord("\n")
            f.write(out.tobytes())


# --------------------------------------------------------------------------------------------
# Measuring a subprocess


def measured_run(cmd: list[str], stdout_path: Path, stderr_path: Path):
    """Runs cmd with stdout/stderr to files; returns (returncode, wall seconds, peak RSS bytes or None)."""
    time_bin = None if os.environ.get("BENCH_NO_GNU_TIME") else shutil.which("time", path="/usr/bin")
    rss_file = stdout_path.with_suffix(stdout_path.suffix + ".rss")
    rss_file.unlink(missing_ok=True)
    if time_bin:
        full = [time_bin, "-o", str(rss_file), "-f", "%e %M", *cmd]
    else:
        # A Python intermediary whose only child is cmd, so that its RUSAGE_CHILDREN peak is cmd's
        # alone (this process's RUSAGE_CHILDREN is the peak over every child so far). It times cmd
        # itself, leaving out its own start.
        helper = (
            "import resource,subprocess,sys,time\n"
            "t=time.perf_counter()\n"
            "rc=subprocess.call(sys.argv[2:])\n"
            "t=time.perf_counter()-t\n"
            "open(sys.argv[1],'w').write('%f %d\\n' % (t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
            "sys.exit(rc)\n"
        )
        full = [sys.executable, "-c", helper, str(rss_file), *cmd]
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        t0 = time.perf_counter()
        rc = subprocess.call(full, stdout=out, stderr=err)
        wall = time.perf_counter() - t0
    peak = None
    try:
        # GNU time writes "Command exited with non-zero status N" first when cmd fails.
        fields = rss_file.read_text().strip().splitlines()[-1].split()
        peak = int(fields[-1]) * 1024  # GNU time's %M and Linux's ru_maxrss are in KiB
        if not time_bin:
            wall = float(fields[0])
    except (OSError, IndexError, ValueError):
        pass
    return rc, wall, peak


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------------------------
# Reference (runs in its own process: `analysis_bench.py --reference CSV K OUT_NPZ LIMIT_BYTES`)


def dense_bytes(n: int, m: int) -> int:
    """The dense float64 matrix and about two more copies of it (nanmean, PCA's centering copy)."""
    return n * m * 8 * 3


def reference_main(csv_path: str, k: int, out_path: str, limit: int) -> None:
    t_start = time.perf_counter()
    data = np.loadtxt(csv_path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    t_loaded = time.perf_counter()
    ids, rows = np.unique(data[:, 0], return_inverse=True)
    statements, cols = np.unique(data[:, 1], return_inverse=True)
    values = data[:, 2].astype(np.float64)
    del data
    n, m = ids.size, statements.size
    if dense_bytes(n, m) > limit:
        json.dump({"skipped": True, "needs_bytes": dense_bytes(n, m)}, sys.stdout)
        return

    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    t0 = time.perf_counter()
    matrix = np.full((n, m), np.nan)
    matrix[rows, cols] = values
    center = np.nanmean(matrix, axis=0)  # statements all have votes, so no all-NaN column
    matrix -= center  # centering; a missing cell imputed with its column mean centres to 0
    np.nan_to_num(matrix, copy=False, nan=0.0)
    solver = "full" if n * m <= 2_000_000 else "randomized"
    pca = PCA(n_components=2, svd_solver=solver, random_state=0)
    projection = pca.fit_transform(matrix)
    t_pca = time.perf_counter()
    labels = KMeans(n_clusters=k, n_init=1, random_state=0).fit_predict(projection)
    t_end = time.perf_counter()
    np.savez(out_path, ids=ids, labels=labels, projection=projection)
    json.dump(
        {
            "skipped": False,
            "participants": int(n),
            "statements": int(m),
            "solver": solver,
            "load_s": t_loaded - t_start,
            "matrix_pca_s": t_pca - t0,
            "kmeans_s": t_end - t_pca,
            "compute_s": t_end - t0,
            "total_s": t_end - t_start,
            "explained_variance_ratio": pca.explained_variance_ratio_.tolist(),
        },
        sys.stdout,
    )


# --------------------------------------------------------------------------------------------
# The benchmark


def ari(planted: np.ndarray, ids: np.ndarray, labels: np.ndarray) -> float | None:
    from sklearn.metrics import adjusted_rand_score

    if ids.size == 0:
        return None
    return float(adjusted_rand_score(planted[ids], labels))


def run_size(name: str, args, workdir: Path, charter_bin: str) -> dict:
    row: dict = {"size": name}
    log(f"[{name}] generating")
    t0 = time.perf_counter()
    participant, statement, vote, planted = generate(name, args.seed)
    t1 = time.perf_counter()
    csv_path = workdir / f"votes-{name}.csv"
    write_csv(csv_path, participant, statement, vote)
    t2 = time.perf_counter()
    n = int(np.unique(participant).size)
    m = int(np.unique(statement).size)
    row.update(
        participants=n,
        statements=m,
        votes=int(vote.size),
        pass_share=float(np.mean(vote == 0)),
        generate_s=t1 - t0,
        write_csv_s=t2 - t1,
        csv_bytes=csv_path.stat().st_size,
        csv=str(csv_path),
    )
    log(f"[{name}] {n} participants, {m} statements, {vote.size} votes; generated in {t1 - t0:.2f} s, "
        f"CSV written in {t2 - t1:.2f} s ({row['csv_bytes'] / MIB:.0f} MiB)")
    del participant, statement, vote

    # Charter
    k = None
    charter_grouped_ids = None
    log(f"[{name}] charter analyze")
    out = workdir / f"charter-{name}.json"
    err = workdir / f"charter-{name}.stderr"
    rc, wall, peak = measured_run([charter_bin, "analyze", "--votes-csv", str(csv_path), "--json"], out, err)
    row.update(charter_wall_s=wall, charter_peak_bytes=peak, charter_exit=rc)
    if rc != 0:
        row["charter_error"] = f"exit {rc}: {tail(err)}"
        log(f"[{name}] charter failed: {row['charter_error']}")
    else:
        try:
            with open(out, "rb") as f:
                result = json.load(f)
            k = int(result["k"])
            row["charter_k"] = k
            row["charter_analysis_ms"] = float(result["timing_ms"]["total"])
            row["charter_timing_ms"] = result["timing_ms"]
            people = result["participants"]
            grouped = [(int(p["id"]), int(p["group"])) for p in people if p.get("group") is not None]
            row["charter_grouped"] = len(grouped)
            row["charter_in_conv"] = sum(1 for p in people if p.get("in_conv"))
            ids = np.array([i for i, _ in grouped], dtype=np.int64)
            labels = np.array([g for _, g in grouped], dtype=np.int64)
            charter_grouped_ids = ids
            row["ari_charter"] = ari(planted, ids, labels)
            # Over everyone, ungrouped participants counted as one more group.
            all_ids = np.array([int(p["id"]) for p in people], dtype=np.int64)
            all_labels = np.array([-1 if p.get("group") is None else int(p["group"]) for p in people])
            row["ari_charter_all"] = ari(planted, all_ids, all_labels)
        except (ValueError, KeyError, TypeError, IndexError) as e:
            row["charter_error"] = f"bad JSON output: {e!r}"
            log(f"[{name}] charter output unreadable: {e!r}")
    row["reference_k"] = k if k is not None else 2

    # Reference
    need = dense_bytes(n, m)
    row["reference_needs_bytes"] = need
    if need > args.reference_memory_limit:
        row["reference_skipped"] = f"does not fit (needs ~{human(need)} dense)"
        log(f"[{name}] reference skipped: {row['reference_skipped']}")
    else:
        log(f"[{name}] reference (numpy + scikit-learn, k={row['reference_k']})")
        out = workdir / f"reference-{name}.json"
        err = workdir / f"reference-{name}.stderr"
        npz = workdir / f"reference-{name}.npz"
        cmd = [sys.executable, os.path.abspath(__file__), "--reference", str(csv_path), str(row["reference_k"]),
               str(npz), str(args.reference_memory_limit)]
        rc, wall, peak = measured_run(cmd, out, err)
        row.update(reference_wall_s=wall, reference_peak_bytes=peak, reference_exit=rc)
        if rc != 0:
            row["reference_error"] = f"exit {rc}: {tail(err)}"
            log(f"[{name}] reference failed: {row['reference_error']}")
        else:
            info = json.loads(out.read_text())
            if info.get("skipped"):
                row["reference_skipped"] = f"does not fit (needs ~{human(info['needs_bytes'])} dense)"
            else:
                row.update(
                    reference_solver=info["solver"],
                    reference_load_s=info["load_s"],
                    reference_compute_s=info["compute_s"],
                    reference_pca_s=info["matrix_pca_s"],
                    reference_kmeans_s=info["kmeans_s"],
                    reference_explained_variance_ratio=info["explained_variance_ratio"],
                )
                got = np.load(npz)
                row["ari_reference"] = ari(planted, got["ids"], got["labels"])
                if charter_grouped_ids is not None:
                    # The reference on the participants Charter grouped, for a like-for-like ARI.
                    index = {int(i): j for j, i in enumerate(got["ids"])}
                    pick = [index[i] for i in charter_grouped_ids.tolist() if i in index]
                    row["ari_reference_charter_grouped"] = ari(planted, got["ids"][pick], got["labels"][pick])
                npz.unlink(missing_ok=True)
    if row.get("charter_wall_s") and row.get("reference_wall_s") and "charter_error" not in row \
            and "reference_error" not in row and "reference_skipped" not in row:
        row["speedup"] = row["reference_wall_s"] / row["charter_wall_s"]
    if not args.keep_csv:
        csv_path.unlink(missing_ok=True)
        del row["csv"]
    return row


def fmt(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def table(rows: list[dict]) -> str:
    head = ["size", "participants", "statements", "votes", "Charter wall s", "Charter analysis ms",
            "Charter peak MiB", "reference wall s", "reference compute s", "reference peak MiB",
            "speed-up (ref wall / Charter wall)", "ARI Charter vs planted", "ARI reference vs planted"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for r in rows:
        charter_ok = "charter_error" not in r
        ref_ok = "reference_wall_s" in r and "reference_error" not in r and "reference_skipped" not in r
        peak = lambda b: None if b is None else b / MIB  # noqa: E731
        if "reference_skipped" in r:
            ref_wall = r["reference_skipped"]
        elif "reference_error" in r:
            ref_wall = "failed"
        else:
            ref_wall = fmt(r.get("reference_wall_s"), ".2f")
        cells = [
            r["size"], f"{r['participants']:,}", f"{r['statements']:,}", f"{r['votes']:,}",
            fmt(r.get("charter_wall_s"), ".2f") if charter_ok else "failed",
            fmt(r.get("charter_analysis_ms"), ".0f"),
            fmt(peak(r.get("charter_peak_bytes")), ".0f") if charter_ok else "—",
            ref_wall,
            fmt(r.get("reference_compute_s"), ".2f") if ref_ok else "—",
            fmt(peak(r.get("reference_peak_bytes")), ".0f") if ref_ok else "—",
            fmt(r.get("speedup"), ".1f") + ("×" if r.get("speedup") else ""),
            fmt(r.get("ari_charter"), ".3f"),
            fmt(r.get("ari_reference"), ".3f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def human(size: int) -> str:
    return f"{size / GIB:.1f} GiB" if size >= GIB else f"{size / MIB:.0f} MiB"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_bytes(text: str) -> int:
    units = {"k": 1024, "m": MIB, "g": GIB, "t": 1024 * GIB}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(float(t))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--reference":
        _, _, csv_path, k, out_path, limit = sys.argv
        reference_main(csv_path, int(k), out_path, int(limit))
        return

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="small,medium,large", help="comma-separated: " + ",".join(SIZES))
    parser.add_argument("--workdir", help="where the CSV files and outputs go (default: a temporary folder, removed after)")
    parser.add_argument("--output", help="also write the rows as JSON to this file")
    parser.add_argument("--no-build", action="store_true", help="do not build Charter (handled by the wrapper)")
    parser.add_argument("--reference-memory-limit", type=parse_bytes, default=16 * GIB,
                        help="skip the dense reference when it would need more than this (default 16GiB)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"data seed (default {SEED})")
    parser.add_argument("--keep-csv", action="store_true", help="keep the vote CSV files in the work dir")
    parser.add_argument("--generate-only", action="store_true", help="only generate (and time) the CSV files")
    args = parser.parse_args()

    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown size(s): {', '.join(unknown)}; known: {', '.join(SIZES)}")

    repo = Path(__file__).resolve().parents[2]
    charter_bin = os.environ.get("CHARTER_BIN") or str(repo / ".build/release/charter")
    if not args.generate_only and not os.access(charter_bin, os.X_OK):
        sys.exit(f"Charter binary not found or not executable: {charter_bin} "
                 "(build it with `swift build -c release --product charter`, or set CHARTER_BIN)")

    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="charter-bench-")) if temporary else Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    rows = []
    try:
        for name in sizes:
            if args.generate_only:
                t0 = time.perf_counter()
                participant, statement, vote, _ = generate(name, args.seed)
                t1 = time.perf_counter()
                path = workdir / f"votes-{name}.csv"
                write_csv(path, participant, statement, vote)
                t2 = time.perf_counter()
                rows.append({"size": name, "votes": int(vote.size), "generate_s": t1 - t0, "write_csv_s": t2 - t1,
                             "csv_bytes": path.stat().st_size})
                log(f"[{name}] {vote.size} votes: generated in {t1 - t0:.2f} s, written in {t2 - t1:.2f} s")
                if not args.keep_csv:
                    path.unlink()
                continue
            rows.append(run_size(name, args, workdir, charter_bin))
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)

    if not args.generate_only:
        print(table(rows))
        notes = []
        for r in rows:
            if r.get("charter_grouped") is not None:
                notes.append(f"{r['size']}: Charter k={r.get('charter_k')}, grouped {r['charter_grouped']:,} of "
                             f"{r['participants']:,} participants (ARI over those; the reference's ARI on the same "
                             f"participants: {fmt(r.get('ari_reference_charter_grouped'), '.3f')})")
        if notes:
            print()
            print("\n".join(f"- {n}" for n in notes))
    if args.output:
        import sklearn

        doc = {
            "seed": args.seed,
            "environment": {
                "python": platform.python_version(),
                "numpy": np.__version__,
                "scikit_learn": sklearn.__version__,
                "cpus": os.cpu_count(),
                "machine": platform.machine(),
            },
            "rows": rows,
        }
        Path(args.output).write_text(json.dumps(doc, indent=2) + "\n")
    if any("charter_error" in r or "reference_error" in r for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
