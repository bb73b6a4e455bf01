"""results.json (CONTRACT.md): metric catalogue, assembly and a structural check."""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from . import __version__
from .util import atomic_write_json

SCHEMA = "charter.run-results/1"
ARM_STAGES = ("sl", "sft", "pairs", "dpo", "bbq")


def metric_catalogue(arm_names: list[str]) -> list[dict[str, str]]:
    cat = [
        {"name": "bbq.accuracy.ambig", "label": "BBQ accuracy, ambiguous contexts", "better": "higher"},
        {"name": "bbq.accuracy.disambig", "label": "BBQ accuracy, disambiguated contexts", "better": "higher"},
        {"name": "bbq.bias.ambig", "label": "BBQ bias score, ambiguous contexts (x100)", "better": "zero"},
        {"name": "bbq.bias.disambig", "label": "BBQ bias score, disambiguated contexts (x100)", "better": "zero"},
        {"name": "refusal_rate", "label": "Refusal rate on held-out prompts", "better": "lower"},
    ]
    for c in arm_names:
        cat.append({"name": f"judge.win_rate.{c}",
                    "label": f"Win rate in the cross-judgement under the {c} constitution", "better": "higher"})
    return cat


def versions() -> dict[str, str]:
    out = {"version": __version__, "python": platform.python_version()}
    for mod in ("torch", "transformers", "trl", "accelerate", "peft", "datasets", "tokenizers"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # a missing optional package is not a reason to lose the results
            out[mod] = None
    return out


def check(results: dict[str, Any], output_dir: Path | None = None) -> list[str]:
    """Problems with a results object, [] if it honours the contract (used by the tests too)."""
    errs = []
    for key in ("schema", "run_id", "profile", "seed", "pipeline", "base_model", "prompts", "wall_seconds",
                "peak_rss_bytes", "metrics", "arms"):
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
        if m.get("better") not in ("higher", "lower", "zero") or not m.get("label"):
            errs.append(f"metric {m.get('name')} lacks label/better")
    for arm, a in results["arms"].items():
        for key in ("constitution_sha256", "metrics", "bbq", "losses", "timings", "model_sha256", "datasets"):
            if key not in a:
                errs.append(f"arm {arm}: missing {key}")
        for n in names:
            if n not in a.get("metrics", {}):
                errs.append(f"arm {arm}: no value for metric {n}")
        for st in ARM_STAGES:
            if st not in a.get("timings", {}):
                errs.append(f"arm {arm}: no timing for {st}")
        if output_dir is not None:
            for dname, d in a.get("datasets", {}).items():
                p = output_dir / d["path"]
                if not p.is_file():
                    errs.append(f"arm {arm}: dataset {dname} missing at {p}")
    return errs


def write(output_dir: Path, results: dict[str, Any]) -> Path:
    path = output_dir / "results.json"
    atomic_write_json(path, results)
    return path
