"""`scripts/pipeline/run evaluate --model DIR`: the evaluation battery on any local model.

Writes `results.json` (schema charter.run-results/2, `"mode": "evaluate"`) in --output with one
entry in `arms` (named by --name), its metrics with intervals and every evaluation's details.
With --compare DIR a second model is evaluated on the same items and the table of paired
differences is filled in, as in a comparison run.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import bbq as bbq_mod
from . import dist, profiles, prompts as prompts_mod, results
from .progress import Progress, StageCounter
from .util import peak_rss_bytes, write_jsonl

DEFAULT_EVALS = Path(__file__).resolve().parents[3].parent / "shared" / "evals"


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="charter_pipeline evaluate", description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, type=Path, help="local transformers model directory")
    ap.add_argument("--name", default="model", help="name of the model in results.json")
    ap.add_argument("--compare", type=Path, default=None, help="a second model directory, compared item by item")
    ap.add_argument("--compare-name", default="other")
    ap.add_argument("--output", type=Path, default=Path("evaluation"), help="output folder (default ./evaluation)")
    ap.add_argument("--profile", default="small", choices=profiles.PROFILES, help="evaluation sizes (default small)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--evals-dir", type=Path, default=DEFAULT_EVALS)
    ap.add_argument("--prompts", type=Path, default=None, help="held-out prompts JSONL (default: the built-in set)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a parameter (JSON value), e.g. --set mmlu_per_subject=5")
    return ap.parse_args(argv)


def main(argv) -> int:
    t0 = time.monotonic()
    args = parse_args(argv)
    progress = Progress.take_stdout(enabled=dist.is_main_process())
    try:
        overrides = {}
        for kv in args.set:
            k, _, v = kv.partition("=")
            overrides[k.strip()] = _value(v)
        overrides.setdefault("model_path", str(args.model.resolve()))
        params = profiles.resolve(args.profile, overrides)
        for d in [args.model] + ([args.compare] if args.compare else []):
            if not Path(d).is_dir():
                raise ValueError(f"model directory {str(d)!r} does not exist")
        if not args.evals_dir.is_dir():
            raise ValueError(f"evals folder {str(args.evals_dir)!r} does not exist (--evals-dir)")
        all_prompts = prompts_mod.load(args.prompts)
        _, held = prompts_mod.split(all_prompts, 1, params["held_out"], args.seed)
        bbq_examples = []
        if params["bbq_per_stratum"] != 0:
            pool = bbq_mod.load_examples(args.evals_dir / "bbq" / "data", params["bbq_categories"])
            bbq_examples = bbq_mod.stratified_sample(pool, params["bbq_per_stratum"], args.seed)
    except (ValueError, profiles.ParameterError, prompts_mod.PromptError, bbq_mod.BBQError, OSError) as e:
        sys.stderr.write(f"charter-pipeline evaluate: error: {e}\n")
        return 2

    from .main import _configure_runtime

    _configure_runtime(params)
    from . import models, report
    from .evals import battery, harmless
    from .evals.runner import Runner

    device = models.resolve_device(params["device"])
    dist.init(params, cpu=device == "cpu")
    items, info = battery.load_items(args.evals_dir, params, args.seed, bbq_examples, held)
    names = [(args.name, args.model)] + ([(args.compare_name, args.compare)] if args.compare else [])
    judge_dir = Path(params["judge_model_path"]) if params["judge_model_path"] else args.model
    outcomes, arms = {}, {}
    for name, path in names:
        tok = models.load_tokenizer(path)
        model = models.load_model(path, params, device)
        model.requires_grad_(False)
        c = StageCounter(progress, name, "eval", battery.count_units(items))
        o, pend = battery.evaluate(Runner(model, tok, params, c.advance), items, params, args.seed)
        c.finish()
        del model
        if "harmless" in items:
            jt = models.load_tokenizer(judge_dir)
            jm = models.load_model(judge_dir, params, device)
            ph = battery.judge_harmless(Runner(jm, jt, params), items["harmless"], pend["harmless"])
            o["harmless"] = harmless.score(items["harmless"], pend["harmless"], ph)
            del jm
        outcomes[name] = [o]
        arms[name] = {"model_path": str(path), "model_sha256": models.weights_sha256(path),
                      "evaluations": {ev: oc.details for ev, oc in o.items()}}
    pairs = [(names[0][0], names[1][0])] if args.compare else []
    estimates, block = report.build(outcomes, pairs, params["bootstrap_samples"], args.seed, params["alpha"])
    catalogue = results.metric_catalogue([], report.collect(outcomes))
    for name in arms:
        arms[name]["estimates"] = estimates[name]
        arms[name]["metrics"] = {k: v["value"] for k, v in estimates[name].items()}
    if not dist.is_main_process():
        return 0
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    for name in arms:
        for ev, oc in outcomes[name][0].items():
            if oc.rows:
                write_jsonl(out / name / "evals" / f"{ev}.jsonl", oc.rows)
    res = {
        "schema": results.SCHEMA, "mode": "evaluate", "run_id": f"evaluate-{args.name}", "profile": args.profile,
        "seed": args.seed, "parameters": params, "pipeline": results.versions(),
        "base_model": {"name": args.model.name, "sha256": arms[args.name]["model_sha256"], "path": str(args.model)},
        "prompts": {"train": 0, "held_out": len(held), "held_out_harmful": sum(1 for p in held if p.harmful)},
        "evaluations": info, "distributed": dist.info(), "device": device, "metrics": catalogue,
        "arms": arms, "comparisons": block,
        "wall_seconds": round(time.monotonic() - t0, 3), "peak_rss_bytes": peak_rss_bytes(),
    }
    problems = results.check(res, None, training=False)
    if problems:
        sys.stderr.write("charter-pipeline evaluate: " + "; ".join(problems) + "\n")
        return 1
    results.write(out, res)
    progress.done("results.json")
    return 0
