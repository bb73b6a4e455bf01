"""From per-item features of every evaluated model to the table: estimates with 95% intervals,
paired differences, Holm-corrected significance and a verdict per row. Pure (numpy only)."""
from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from . import stats

NO_DIFFERENCE = "no detectable difference"
MIN_DETECTABLE_N = 30   # below this many items in every row, the run says it is too small to detect anything
MIN_TEST_N = 10         # rows with fewer items get no p-value: a bootstrap of a handful of items is overconfident
TOO_FEW = "too few items to test"


def _seed(seed: int, name: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**32)


def collect(outcomes: dict[str, list[dict]]) -> dict[str, dict]:
    """outcomes: {model: [per replicate {evaluation: Outcome}]} ->
    {metric name: {"meta": Metric (first seen), "models": {model: [features per replicate]}}}."""
    table: dict[str, dict] = {}
    for model, reps in outcomes.items():
        for rep in reps:
            for ev in rep.values():
                for m in ev.metrics:
                    e = table.setdefault(m.name, {"meta": m, "models": {}})
                    e["models"].setdefault(model, []).append(m.features)
    return table


def verdict(better: str, a: str, b: str, va, vb, diff, significant: bool) -> str:
    if not significant or diff is None:
        return NO_DIFFERENCE
    if better == "higher":
        return f"{a} better" if diff > 0 else f"{b} better"
    if better == "lower":
        return f"{a} better" if diff < 0 else f"{b} better"
    if better == "zero":
        return f"{a} better" if abs(va) < abs(vb) else f"{b} better"
    return f"{a} higher" if diff > 0 else f"{b} higher"


def build(outcomes: dict[str, list[dict]], pairs: list[tuple[str, str]], samples: int, seed: int, alpha: float,
          extra_rows: list[dict] | None = None) -> tuple[dict[str, dict], dict[str, Any]]:
    """Estimates per model ({model: {metric: estimate dict}}) and the comparison block."""
    table = collect(outcomes)
    estimates: dict[str, dict] = {m: {} for m in outcomes}
    rows: list[dict] = []
    for name, e in table.items():
        meta = e["meta"]
        n = meta.features.shape[0]
        r_max = max(len(v) for v in e["models"].values())
        boot = stats.Bootstrap(n, r_max, samples, _seed(seed, name))
        for model, feats in e["models"].items():
            est = boot.estimate(feats, meta.stat)
            estimates[model][name] = {"value": est.value, "n": est.n, "ci95": est.ci95, "replicates": est.replicates}
        if not meta.primary:
            continue
        for a, b in pairs:
            if a not in e["models"] or b not in e["models"]:
                continue
            d = boot.difference(e["models"][a], e["models"][b], meta.stat)
            rows.append({"metric": name, "label": meta.label, "better": meta.better, "group": meta.group,
                         "a": a, "b": b, "value_a": estimates[a][name]["value"],
                         "value_b": estimates[b][name]["value"], **d})
    rows.extend(extra_rows or [])
    for r in rows:
        r["tested"] = r["p_value"] is not None and (r.get("n") or 0) >= MIN_TEST_N
    adjusted, reject = stats.holm([r["p_value"] if r["tested"] else None for r in rows], alpha)
    for r, p, s in zip(rows, adjusted, reject):
        r["p_holm"] = p
        r["significant"] = bool(s)
        r["verdict"] = verdict(r["better"], r["a"], r["b"], r.get("value_a"), r.get("value_b"), r["difference"], s) \
            if r["tested"] else TOO_FEW
    ns = [r["n"] for r in rows if r.get("n")]
    block = {
        "method": "paired bootstrap (items, and replicates where there are several), two-sided; "
                  "Holm correction across all rows",
        "bootstrap_samples": samples, "alpha": alpha,
        "rows": rows,
        "significant_rows": sum(1 for r in rows if r["significant"]),
        "tested_rows": sum(1 for r in rows if r["tested"]),
        "min_items_to_test": MIN_TEST_N,
        "too_small_to_detect": (not ns) or max(ns) < MIN_DETECTABLE_N,
    }
    return estimates, block


def preference_row(name: str, label: str, a: str, b: str, p_a: list[np.ndarray], samples: int, seed: int,
                   circular: bool) -> tuple[dict, dict]:
    """A judged comparison as a table row: P(a's answer preferred) per prompt (one array per
    replicate), tested against 0.5. Returns (row, estimate of P(a preferred))."""
    n = p_a[0].shape[0] if p_a else 0
    boot = stats.Bootstrap(n, max(len(p_a), 1), samples, _seed(seed, name))
    est = boot.estimate(p_a, stats.mean_stat)
    half = [np.full_like(x, 0.5) for x in p_a]
    d = boot.difference(p_a, half, stats.mean_stat) if n else {"difference": None, "difference_ci95": None,
                                                                "p_value": None, "n": 0}
    row = {"metric": name, "label": label, "better": "higher", "group": "judge", "a": a, "b": b,
           "value_a": est.value, "value_b": None if est.value is None else 1.0 - est.value, "circular": circular, **d}
    return row, {"value": est.value, "n": est.n, "ci95": est.ci95, "replicates": est.replicates}
