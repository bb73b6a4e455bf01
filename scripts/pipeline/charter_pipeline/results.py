"""results.json (CONTRACT.md): metric catalogue, assembly and a structural check."""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from . import __version__
from .util import atomic_write_json

SCHEMA = "charter.run-results/2"
ARM_STAGES = ("sl", "sft", "pairs", "dpo", "bbq")
BETTER = ("higher", "lower", "zero", "none")


def metric_catalogue(arm_names: list[str], table: dict | None = None) -> list[dict]:
    """Every metric once: name, label, better, the evaluation it belongs to, and whether it is a
    row of the comparison table (`primary`; the others are detail rows with intervals only)."""
    cat = []
    for name, e in (table or {}).items():
        m = e["meta"]
        cat.append({"name": name, "label": m.label, "better": m.better, "group": m.group, "primary": m.primary})
    for c in arm_names:
        cat.append({"name": f"judge.win_rate.{c}",
                    "label": f"Win rate in the cross-judgement under the {c} constitution (circular)",
                    "better": "higher", "group": "judge", "primary": False, "circular": True})
    return cat


def versions() -> dict[str, str]:
    out = {"version": __version__, "python": platform.python_version()}
    for mod in ("torch", "transformers", "trl", "accelerate", "peft", "datasets", "tokenizers"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # a missing optional package is not a reason to lose the results
            out[mod] = None
    return out


def check(results: dict[str, Any], output_dir: Path | None = None, training: bool = True) -> list[str]:
    """Problems with a results object, [] if it honours the contract (used by the tests too)."""
    errs = []
    for key in ("schema", "run_id", "profile", "seed", "pipeline", "base_model", "prompts", "wall_seconds",
                "peak_rss_bytes", "metrics", "arms", "comparisons"):
        if key not in results:
            errs.append(f"missing {key}")
    if errs:
        return errs
    if results["schema"] != SCHEMA:
        errs.append(f"schema is {results['schema']!r}")
    names = [m["name"] for m in results["metrics"]]
    if len(set(names)) != len(names):
        errs.append("metric listed twice")
    for m in results["metrics"]:
        if m.get("better") not in BETTER or not m.get("label"):
            errs.append(f"metric {m.get('name')} lacks label/better")
    for arm, a in results["arms"].items():
        keys = ("metrics", "estimates") + (("constitution_sha256", "bbq", "losses", "timings", "model_sha256",
                                             "datasets", "replicates", "optimizer_steps") if training else ())
        for key in keys:
            if key not in a:
                errs.append(f"arm {arm}: missing {key}")
        for n in names:
            if n not in a.get("metrics", {}):
                errs.append(f"arm {arm}: no value for metric {n}")
        for n, e in a.get("estimates", {}).items():
            if set(e) < {"value", "n", "ci95"}:
                errs.append(f"arm {arm}: estimate {n} lacks value/n/ci95")
            elif e["ci95"] is not None and not (len(e["ci95"]) == 2 and e["ci95"][0] <= e["ci95"][1]):
                errs.append(f"arm {arm}: estimate {n} has a malformed ci95")
        if training:
            for st in ARM_STAGES:
                if st not in a.get("timings", {}):
                    errs.append(f"arm {arm}: no timing for {st}")
        if output_dir is not None:
            for dname, d in a.get("datasets", {}).items():
                p = output_dir / d["path"]
                if not p.is_file():
                    errs.append(f"arm {arm}: dataset {dname} missing at {p}")
    for r in results["comparisons"].get("rows", []):
        for key in ("metric", "a", "b", "difference", "difference_ci95", "n", "p_value", "p_holm", "significant",
                    "verdict"):
            if key not in r:
                errs.append(f"comparison row {r.get('metric')}: missing {key}")
    return errs


def write(output_dir: Path, results: dict[str, Any]) -> Path:
    path = output_dir / "results.json"
    atomic_write_json(path, results)
    return path
