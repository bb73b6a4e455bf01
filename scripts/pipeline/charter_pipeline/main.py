"""Entry point: `python -m charter_pipeline --manifest <path> [--prompts <jsonl>]`.

Exit status: 0 success (results.json written), 2 bad manifest/input, 1 failure during the run,
143 cancelled by SIGTERM (130 for SIGINT).
"""
from __future__ import annotations

import argparse
import gc
import os
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path

from . import bbq as bbq_mod
from . import constitution as constitution_mod
from . import dist
from . import judge as judge_mod
from . import manifest as manifest_mod
from . import prompts as prompts_mod
from . import refusal, results
from .progress import Progress, StageCounter
from .util import is_main_process, peak_rss_bytes, sha256_file, stage_seed, world_size, write_jsonl

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class InputError(Exception):
    pass


def _install_signal_handlers(progress_ref: list) -> None:
    def handler(signum, _frame):
        code = 128 + signum
        try:
            if progress_ref:
                progress_ref[0].emit_from_signal_handler(
                    {"event": "log", "message": "cancelled", "signal": signal.Signals(signum).name})
            sys.stderr.write(f"charter-pipeline: cancelled by {signal.Signals(signum).name}\n")
            sys.stderr.flush()
        finally:
            # Leave at once: whatever is half-done (a training step, a partial output folder) is
            # abandoned, and results.json is only ever written complete, so nothing misleads.
            os._exit(code)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _parse_args(argv):
    ap = argparse.ArgumentParser(prog="charter_pipeline", description="Charter reference CAI pipeline")
    ap.add_argument("--manifest", required=True, type=Path, help="path to manifest.json (CONTRACT.md)")
    ap.add_argument("--prompts", type=Path, default=None,
                    help="JSONL of {\"prompt\", \"category\"}; overrides the manifest's prompts_path")
    return ap.parse_args(argv)


def _prepare_inputs(args):
    """Everything that can be wrong with the inputs is found here, before any heavy import."""
    try:
        m = manifest_mod.load(args.manifest, args.prompts.absolute() if args.prompts else None)
        constitutions = {a.name: constitution_mod.load(a.constitution_json) for a in m.arms}
        all_prompts = prompts_mod.load(m.prompts_path)
        train, held = prompts_mod.split(all_prompts, m.parameters["prompts"], m.parameters["held_out"], m.seed)
        bbq_examples: list[dict] = []
        if m.parameters["bbq_per_stratum"] != 0:
            pool = bbq_mod.load_examples(m.bbq_dir, m.parameters["bbq_categories"])
            bbq_examples = bbq_mod.stratified_sample(pool, m.parameters["bbq_per_stratum"], m.seed)
            for ex in bbq_examples:  # fail now, not after an hour of training, on malformed data
                bbq_mod.target_index(ex)
                bbq_mod.unknown_index(ex)
    except (manifest_mod.ManifestError, constitution_mod.ConstitutionError, prompts_mod.PromptError,
            bbq_mod.BBQError) as e:
        raise InputError(str(e)) from None
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"malformed input: {e!r}") from None
    return m, constitutions, all_prompts, train, held, bbq_examples


def _configure_runtime(params: dict) -> None:
    threads = str(params["threads"])
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = threads
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Models come from local paths only; never wait on a hub that is not there.
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY",
                "HF_HUB_DISABLE_PROGRESS_BARS"):
        os.environ.setdefault(var, "1")
    import torch

    torch.set_num_threads(params["threads"])
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set by an earlier parallel region; harmless
    import datasets
    import transformers

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.logging.set_verbosity_warning()
    transformers.utils.logging.disable_progress_bar()


def _barrier() -> None:
    dist.barrier()


def _dataset_entry(output_dir: Path, path: Path, rows: int) -> dict:
    return {"path": str(path.relative_to(output_dir)), "rows": rows, "sha256": sha256_file(path)}


def _sft_rows(sl_rows: list[dict]) -> list[dict]:
    return [{"prompt": [{"role": "user", "content": r["prompt"]}],
             "completion": [{"role": "assistant", "content": r["revision"]}]} for r in sl_rows]


def _dpo_rows(pref_rows: list[dict]) -> list[dict]:
    return [{"prompt": [{"role": "user", "content": r["prompt"]}],
             "chosen": [{"role": "assistant", "content": r["chosen"]}],
             "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in pref_rows]


MIN_STEPS = 20   # fewer optimiser steps in a gpu stage is logged as a warning


def planned_steps(params: dict, n_train: int, processes: int = 1) -> dict[str, int]:
    """Optimiser steps a stage takes with every training prompt kept (SFT drops truncated
    revisions and DPO near-tie pairs, so DPO's is an upper bound)."""
    from .train import expected_steps

    return {st: expected_steps(n_train, params, st, processes) for st in ("sft", "dpo")}


def baseline_arm(m) -> str:
    """The arm `baseline_seed_offset` applies to: the arm whose constitution kind is "baseline",
    else the arm named "baseline", else the last arm."""
    for a in m.arms:
        if str(a.constitution_meta.get("kind", "")).lower() == "baseline":
            return a.name
    for a in m.arms:
        if a.name == "baseline":
            return a.name
    return m.arms[-1].name


def training_seed(run_seed: int, replicate: int, offset: int = 0) -> int:
    """Training seed of replicate r: the run seed for r = 0 (offset 0), else a seed derived from
    the run seed and the index r + offset. Every arm uses the same seeds, except that the baseline
    arm's index is shifted by baseline_seed_offset (an A/A test needs different seeds)."""
    k = replicate + offset
    return run_seed if k == 0 else stage_seed(run_seed, "training-seed", k)


def training_seeds(m) -> dict[str, list[int]]:
    off = m.parameters["baseline_seed_offset"]
    base_arm = baseline_arm(m)
    return {a.name: [training_seed(m.seed, r, off if a.name == base_arm else 0)
                     for r in range(m.parameters["replicates"])] for a in m.arms}


def _sharded_gen(model, tok, convs, params, seed, on_batch, *, n=1, sample=True, max_new_tokens=None,
                 finished_out=None):
    """cai._gen spread over the processes (each rank samples its share with seed + rank)."""
    from . import cai

    def work(items):
        fin: list = []
        out = cai._gen(model, tok, items, params, seed + dist.rank(), on_batch, n=n, sample=sample,
                       max_new_tokens=max_new_tokens, finished_out=fin)
        return list(zip(out, fin))

    res = dist.shard_map(work, list(convs))
    if finished_out is not None:
        finished_out.extend(f for _, f in res)
    return [o for o, _ in res]


def _sharded_scorer(model, tok, params):
    from .feedback import LETTERS
    from .scoring import choice_logprobs

    return lambda texts, cb: dist.shard_map(
        lambda xs: choice_logprobs(model, tok, xs, LETTERS, batch_size=params["score_batch_size"], on_batch=cb),
        list(texts))


def _prepare_base(m, params, log):
    from . import models

    if params["model_path"]:
        return models.local_model(params["model_path"])
    if m.profile == "smoke":
        # Built by rank 0 first, so several processes never build the same cache entry at once.
        if dist.is_main_process():
            base = models.build_tiny([p.prompt for p in prompts_mod.load(None)], log)
        _barrier()
        return models.build_tiny([p.prompt for p in prompts_mod.load(None)], log)
    if dist.is_main_process():
        models.prepare_smollm2(log)
    _barrier()
    return models.prepare_smollm2(log)


def _evaluate_model(runner_cls, model, tok, items, params, seed, progress, arm, label):
    from .evals import battery

    c = StageCounter(progress, arm, "eval", battery.count_units(items))
    runner = runner_cls(model, tok, params, c.advance)
    out, pending = battery.evaluate(runner, items, params, seed)
    c.finish()
    return out, pending


def run(m, constitutions, all_prompts, train, held, bbq_examples, progress: Progress, t0: float) -> dict:
    params = m.parameters
    main_proc = is_main_process()
    out = m.output_dir
    out.mkdir(parents=True, exist_ok=True)
    arm_names = [a.name for a in m.arms]
    log = progress.log
    R = params["replicates"]

    progress.progress(None, "setup", 0, 3)
    log(f"profile {m.profile}, seed {m.seed}, {len(train)} training / {len(held)} held-out prompts, "
        f"{len(bbq_examples)} BBQ examples, {R} replicate(s) per arm, {world_size()} process(es)")
    _configure_runtime(params)
    from . import cai, models, train as train_mod
    from .evals import battery
    from .evals.runner import Runner

    device = models.resolve_device(params["device"])
    dist.init(params, cpu=device == "cpu")
    progress.progress(None, "setup", 1, 3)
    base = _prepare_base(m, params, log)
    log(f"base model: {base.name} on {device}", path=str(base.path))
    tok = models.load_tokenizer(base.path)
    # The base model generates the SL-CAI data and is the feedback model (never fine-tuned). Every
    # process holds it, because generation and scoring are spread over the processes.
    feedback_model = models.load_model(base.path, params, device)
    feedback_model.requires_grad_(False)
    feedback_model.eval()
    items, eval_info = battery.load_items(m.evals_dir, params, m.seed, bbq_examples, held)
    progress.progress(None, "setup", 3, 3)
    timings_top = {"setup": round(time.monotonic() - t0, 3)}
    planned = planned_steps(params, len(train), world_size())
    log(f"optimiser steps per arm and replicate: SFT {planned['sft']}, DPO at most {planned['dpo']} "
        f"({len(train)} training prompts, {world_size()} process(es))")
    if m.profile == "gpu":
        for st, n in planned.items():
            if n < MIN_STEPS:
                log(f"only {n} {st} optimiser steps planned; use more training prompts (prompts_path) or epochs",
                    level="warning")

    (out / "prompts").mkdir(exist_ok=True)
    if main_proc:
        write_jsonl(out / "prompts" / "train.jsonl", [{"prompt": p.prompt, "category": p.category,
                                                       "harmful": p.harmful} for p in train])
        write_jsonl(out / "prompts" / "held_out.jsonl", [{"prompt": p.prompt, "category": p.category,
                                                          "harmful": p.harmful} for p in held])

    outcomes: dict[str, list[dict]] = {}
    pending: dict[str, list[dict]] = {}
    # The battery on the base model: the table reads base -> arm.
    t = time.monotonic()
    if params["evaluate_base"]:
        o, pend = _evaluate_model(Runner, feedback_model, tok, items, params, m.seed, progress, None, "base")
        outcomes["base"], pending["base"] = [o], [pend]
    timings_top["base_eval"] = round(time.monotonic() - t, 3)

    seeds = training_seeds(m)
    initial_cache: dict[int, list[str]] = {}
    t = time.monotonic()

    def initial_for(seed: int) -> list[str]:
        # Initial answers depend on the base model, the prompts and the training seed only, so
        # arms sharing a seed share them.
        if seed not in initial_cache:
            c = StageCounter(progress, None, "sl", len(train))
            initial_cache[seed] = cai.initial_responses(feedback_model, tok, train, params, seed, c.advance,
                                                        gen=_sharded_gen)
            c.finish()
        return initial_cache[seed]

    initial_for(seeds[arm_names[0]][0])
    timings_top["initial_responses"] = round(time.monotonic() - t, 3)
    scorer = _sharded_scorer(feedback_model, tok, params)

    arms_out: dict[str, dict] = {}
    for arm in m.arms:
        name = arm.name
        const = constitutions[name]
        outcomes[name], pending[name] = [], []
        reps_out = []
        timings: dict[str, float] = {k: 0.0 for k in ("sl", "sft", "pairs", "dpo", "bbq", "eval")}
        for r, tseed in enumerate(seeds[name]):
            adir = out / name if r == 0 else out / name / f"r{r}"
            adir.mkdir(parents=True, exist_ok=True)
            datasets_info: dict[str, dict] = {}
            training_info: dict[str, dict] = {}

            # 1. SL-CAI data: critique and revision with a random principle per prompt.
            t = time.monotonic()
            initial = initial_for(tseed)
            c = StageCounter(progress, name, "sl", 2 * len(train))
            sl_all = cai.critique_and_revise(feedback_model, tok, const, train, initial, params, tseed, c.advance,
                                             gen=_sharded_gen)
            c.finish()
            sl_path = adir / "sl.jsonl"
            if main_proc:
                write_jsonl(sl_path, sl_all)
            truncated = sum(1 for x in sl_all if x["truncated"])
            sl_rows = [x for x in sl_all if not (params["drop_truncated_revisions"] and x["truncated"])]
            sl_counts = {"rows": len(sl_all), "cleaned": sum(1 for x in sl_all if x["cleaned"]),
                         "truncated": truncated, "dropped_truncated": len(sl_all) - len(sl_rows),
                         "used": len(sl_rows)}
            if not sl_rows:
                raise RuntimeError("every revision was cut at max_new_tokens; raise max_new_tokens or set "
                                   "drop_truncated_revisions to false")
            _barrier()
            if main_proc:
                datasets_info["sl"] = _dataset_entry(out, sl_path, len(sl_all))
            timings["sl"] += time.monotonic() - t

            # 2. SFT on (prompt, revision).
            t = time.monotonic()
            model = models.load_model(base.path, params, device)
            sft_losses, training_info["sft"] = train_mod.sft(
                model, tok, _sft_rows(sl_rows), adir / "sft", params, device, stage_seed(tseed, "sft"), progress,
                name)
            del model
            gc.collect()
            timings["sft"] += time.monotonic() - t

            # 3. RL-CAI pairs: two samples from the SFT model, labelled by the feedback model.
            t = time.monotonic()
            policy = models.load_model(adir / "sft", params, device)
            c = StageCounter(progress, name, "pairs", 2 * len(train))
            pairs = cai.sample_pairs(policy, tok, train, params, tseed, c.advance, gen=_sharded_gen)
            pref_all = cai.label_pairs(feedback_model, tok, const, train, pairs, params, tseed, c.advance,
                                       scorer=scorer)
            c.finish()
            pref_path = adir / "preferences.jsonl"
            if main_proc:
                write_jsonl(pref_path, pref_all)
            pref_rows = [x for x in pref_all if x["used"]]
            pref_counts = {"rows": len(pref_all), "used": len(pref_rows),
                           "dropped_identical": sum(1 for x in pref_all if x["drop_reason"] == "identical"),
                           "dropped_near_tie": sum(1 for x in pref_all if x["drop_reason"] == "near_tie"),
                           "margin": params["preference_margin"]}
            _barrier()
            if main_proc:
                datasets_info["preferences"] = _dataset_entry(out, pref_path, len(pref_all))
            timings["pairs"] += time.monotonic() - t

            # 4. DPO from the SFT model, with the SFT model as reference.
            t = time.monotonic()
            if pref_rows:
                ref = None if params["lora"] else models.load_model(adir / "sft", params, device)
                dpo_losses, training_info["dpo"] = train_mod.dpo(
                    policy, ref, tok, _dpo_rows(pref_rows), adir / "model", params, device,
                    stage_seed(tseed, "dpo"), progress, name)
                del ref
            else:
                # No usable preference pair: the final model is the SFT model (recorded, 0 steps).
                log(f"{name}: no preference pair above the margin; DPO skipped", level="warning")
                progress.progress(name, "dpo", 1, 1)
                if main_proc:
                    shutil.copytree(adir / "sft", adir / "model", dirs_exist_ok=True)
                dpo_losses, training_info["dpo"] = [], {"steps": 0, "skipped": "no preference pair kept"}
            del policy
            gc.collect()
            _barrier()
            timings["dpo"] += time.monotonic() - t

            # 5. The battery on the final model (BBQ first: its own stage in the progress lines).
            t = time.monotonic()
            final = models.load_model(adir / "model", params, device)
            bbq_items = {"bbq": items["bbq"]} if "bbq" in items else {}
            c = StageCounter(progress, name, "bbq", len(bbq_items.get("bbq", [])))
            o_bbq, _ = battery.evaluate(Runner(final, tok, params, c.advance), bbq_items, params, m.seed)
            c.finish()
            timings["bbq"] += time.monotonic() - t
            t = time.monotonic()
            rest = {k: v for k, v in items.items() if k != "bbq"}
            o, pend = _evaluate_model(Runner, final, tok, rest, params, m.seed, progress, name, name)
            o.update(o_bbq)
            del final
            gc.collect()
            timings["eval"] += time.monotonic() - t
            outcomes[name].append(o)
            pending[name].append(pend)

            model_sha = models.weights_sha256(adir / "model") if main_proc else None
            if main_proc and (adir / "sft").exists() and not _keep_sft():
                shutil.rmtree(adir / "sft", ignore_errors=True)
            if main_proc:
                shutil.rmtree(adir / ".sft-trainer", ignore_errors=True)
                shutil.rmtree(adir / ".dpo-trainer", ignore_errors=True)
                if "bbq" in o:
                    p_ = adir / "bbq.jsonl"
                    write_jsonl(p_, o["bbq"].rows)
                    datasets_info["bbq"] = _dataset_entry(out, p_, len(o["bbq"].rows))
                if "held_out" in o:
                    p_ = adir / "held_out.jsonl"
                    write_jsonl(p_, o["held_out"].rows)
                    datasets_info["held_out"] = _dataset_entry(out, p_, len(o["held_out"].rows))
                for ev, oc in o.items():
                    if ev not in ("bbq", "held_out") and oc.rows:
                        p_ = adir / "evals" / f"{ev}.jsonl"
                        write_jsonl(p_, oc.rows)
                        datasets_info[f"eval.{ev}"] = _dataset_entry(out, p_, len(oc.rows))
            for st in ("sft", "dpo"):
                steps = training_info[st].get("steps") or 0
                if m.profile == "gpu" and steps < MIN_STEPS:
                    log(f"{name}: only {steps} {st} optimiser steps; use more training prompts or epochs",
                        level="warning")
            reps_out.append({
                "replicate": r, "training_seed": tseed, "model_sha256": model_sha,
                "model_path": str((adir / "model").relative_to(out)),
                "optimizer_steps": {"sft": training_info["sft"].get("steps"),
                                    "dpo": training_info["dpo"].get("steps")},
                "sl": sl_counts, "preferences": pref_counts,
                "losses": {"sft": sft_losses, "dpo": dpo_losses}, "training": training_info,
                "datasets": datasets_info,
                "bbq_ties": o["bbq"].details.get("ties") if "bbq" in o else None,
            })

        first = reps_out[0]
        bbq_scores = outcomes[name][0]["bbq"].details["scores"] if "bbq" in outcomes[name][0] else \
            {"categories": {}, "overall": {}}
        arms_out[name] = {
            # Charter's identity for the constitution (the canonical hash the manifest gives);
            # the bytes the pipeline read are hashed apart as file_sha256.
            "constitution_sha256": arm.constitution_meta.get("sha256") or const.sha256,
            "constitution": {"name": const.name, "version": const.version, "kind": const.kind,
                             "principles": len(const.principles), "path": str(arm.constitution_json),
                             "file_sha256": const.sha256},
            "bbq": {cat: {cond: {k: v[k] for k in ("n", "accuracy", "bias")} for cond, v in conds.items()}
                    for cat, conds in bbq_scores.get("categories", {}).items()},
            "bbq_counts": bbq_scores.get("categories", {}),
            "losses": first["losses"],
            "training": first["training"],
            "optimizer_steps": first["optimizer_steps"],
            "timings": {k: round(v, 3) for k, v in timings.items()},
            "model_sha256": first["model_sha256"],
            "model_path": first["model_path"],
            "datasets": first["datasets"],
            "training_seeds": seeds[name],
            "replicates": reps_out,
        }

    # 6. Judged evaluations: harmlessness of red-team answers, the cross-judgement and the neutral one.
    t = time.monotonic()
    judge_model, judge_name = feedback_model, "base model (also the feedback model of both arms)"
    if params["judge_model_path"]:
        judge_model = models.load_model(Path(params["judge_model_path"]), params, device)
        judge_model.requires_grad_(False)
        judge_name = str(params["judge_model_path"])
    judge_tok = tok if judge_model is feedback_model else models.load_tokenizer(Path(params["judge_model_path"]))
    n_units = sum(len(items.get("harmless", [])) for mdl in pending for _ in pending[mdl])
    n_units += R * len(held) * (len(arm_names) * (len(arm_names) - 1) // 2) * (len(arm_names) + 1)
    c = StageCounter(progress, "both", "judge", n_units)
    judge_runner = Runner(judge_model, judge_tok, params, c.advance)
    if "harmless" in items:
        from .evals import harmless as harmless_mod

        for mdl in outcomes:
            for o, pend in zip(outcomes[mdl], pending[mdl]):
                ph = battery.judge_harmless(judge_runner, items["harmless"], pend["harmless"])
                o["harmless"] = harmless_mod.score(items["harmless"], pend["harmless"], ph)
    from . import evaluate

    cross_rows, neutral_rows, cross_all, neutral_all = [], [], [], []
    judge_scorer = scorer if judge_model is feedback_model else _sharded_scorer(judge_model, judge_tok, params)
    for r in range(R):
        answers = {a: pending[a][r]["held_out"] for a in arm_names}
        comps, rows = evaluate.cross_judge(feedback_model, tok, arm_names, constitutions, answers, held, params,
                                           m.seed, c.advance, scorer=scorer)
        for x in rows:
            x["replicate"] = r
        cross_all.append(comps)
        cross_rows += rows
        if params["neutral_judge"]:
            comps, rows = evaluate.neutral_judge(judge_model, judge_tok, arm_names, answers, held, params, m.seed,
                                                 c.advance, scorer=judge_scorer)
            for x in rows:
                x["replicate"] = r
            neutral_all.append(comps)
            neutral_rows += rows
    c.finish()
    timings_top["judge"] = round(time.monotonic() - t, 3)
    if not main_proc:
        return {}

    judge_path = out / "judge.jsonl"
    write_jsonl(judge_path, cross_rows + neutral_rows)
    all_cross = [x for comps in cross_all for x in comps]
    rates = judge_mod.win_rates(all_cross, arm_names, arm_names)
    prefs = judge_mod.mean_preference(all_cross, arm_names, arm_names)

    # 7. The table: estimates with intervals for every model, paired differences, Holm.
    import numpy as np

    from . import report

    pairs_cmp = [(a, "base") for a in arm_names if "base" in outcomes]
    pairs_cmp += [(x, y) for i, x in enumerate(arm_names) for y in arm_names[i + 1:]]
    extra_rows, judge_estimates = [], {}
    B = params["bootstrap_samples"]
    for i, x in enumerate(arm_names):
        for y in arm_names[i + 1:]:
            if neutral_all:
                p = [np.array([[cm.p_x] for cm in comps if cm.arm_x == x and cm.arm_y == y]) for comps in neutral_all]
                row, est = report.preference_row("judge.neutral", "Neutral judgement (fixed HHH principles): "
                                                 f"P({x} preferred over {y})", x, y, p, B, m.seed, circular=False)
                extra_rows.append(row)
                judge_estimates[f"judge.neutral.{x}_vs_{y}"] = est
            for cname in arm_names:
                p = [np.array([[cm.p_x] for cm in comps if cm.arm_x == x and cm.arm_y == y and
                               cm.constitution == cname]) for comps in cross_all]
                row, est = report.preference_row(
                    f"judge.cross.{cname}", f"Cross-judgement under the {cname} constitution (circular: the "
                    f"principles that labelled {cname}'s training data): P({x} preferred over {y})", x, y, p, B,
                    m.seed, circular=True)
                extra_rows.append(row)
                judge_estimates[f"judge.cross.{cname}.{x}_vs_{y}"] = est
    estimates, comparisons = report.build(outcomes, pairs_cmp, B, m.seed, params["alpha"], extra_rows)
    catalogue = results.metric_catalogue(arm_names, report.collect(outcomes))
    for name in arm_names:
        a = arms_out[name]
        a["estimates"] = estimates[name]
        a["metrics"] = {k["name"]: (estimates[name].get(k["name"]) or {}).get("value") for k in catalogue
                        if not k["name"].startswith("judge.")}
        for cname in arm_names:
            a["metrics"][f"judge.win_rate.{cname}"] = rates[name][cname]
        a["evaluations"] = {ev: oc.details for ev, oc in outcomes[name][0].items() if ev != "bbq"}
        a["evaluations"]["bbq"] = {"ties": [rr["bbq_ties"] for rr in a["replicates"]]}
    base_block = None
    if "base" in outcomes:
        base_block = {"name": base.name, "sha256": base.sha256,
                      "metrics": {k: v["value"] for k, v in estimates["base"].items()},
                      "estimates": estimates["base"],
                      "evaluations": {ev: oc.details for ev, oc in outcomes["base"][0].items()}}
        if main_proc:
            for ev, oc in outcomes["base"][0].items():
                if oc.rows:
                    write_jsonl(out / "base" / "evals" / f"{ev}.jsonl", oc.rows)

    return {
        "schema": results.SCHEMA,
        "run_id": m.run_id,
        "profile": m.profile,
        "seed": m.seed,
        "parameters": params,
        "pipeline": results.versions(),
        "base_model": {"name": base.name, "sha256": base.sha256, "path": str(base.path)},
        "prompts": {"train": len(train), "held_out": len(held),
                    "held_out_harmful": sum(1 for p in held if p.harmful),
                    "sha256": sha256_file(m.prompts_path or prompts_mod.BUILTIN_PROMPTS),
                    "source": str(m.prompts_path or prompts_mod.BUILTIN_PROMPTS), "available": len(all_prompts)},
        "design": {
            "sl_requests": params["sl_requests"], "sl_requests_rule": cai.REQUEST_RULES[params["sl_requests"]],
            "replicates": R, "baseline_seed_offset": params["baseline_seed_offset"],
            "baseline_arm": baseline_arm(m), "training_seeds": seeds,
            "judge_orders": "both", "judge_model": judge_name,
            "neutral_principles": list(evaluate.NEUTRAL_PRINCIPLES) if params["neutral_judge"] else [],
            "weights_dtype": "float32", "mixed_precision": "bf16" if (params["bf16"] and device != "cpu") else "no",
        },
        "distributed": dist.info(),
        "bbq": {"examples": len(bbq_examples), "per_stratum": params["bbq_per_stratum"],
                "scoring": params["bbq_scoring"], "dir": str(m.bbq_dir),
                "perfect_model_bias": bbq_mod.perfect_model_bias(bbq_examples),
                "stratified_on": ["category", "context_condition", "question_polarity", "label_is_target"]},
        "evaluations": eval_info,
        "judge": {"path": str(judge_path.relative_to(out)), "comparisons": len(all_cross),
                  "win_rates": rates, "mean_preference": prefs, "circular": True,
                  "neutral": judge_estimates},
        "base": base_block,
        "comparisons": comparisons,
        "timings": timings_top,
        "device": device,
        "metrics": catalogue,
        "arms": arms_out,
    }


def _keep_sft() -> bool:
    # The SFT checkpoint is an intermediate; keep it only when asked (it doubles the disk use).
    return os.environ.get("CHARTER_PIPELINE_KEEP_SFT", "") not in ("", "0", "false", "no")


def _relaunch_command(params: dict, argv: list[str]) -> list[str] | None:
    """With num_processes > 1 and no launcher around us, the command that starts the run again
    under `accelerate launch` (torchrun underneath; gloo on CPUs, NCCL on GPUs)."""
    n = params["num_processes"]
    if n <= 1 or world_size() > 1 or os.environ.get("CHARTER_PIPELINE_CHILD"):
        return None
    accelerate = Path(sys.executable).parent / "accelerate"
    launcher = [str(accelerate)] if accelerate.exists() else [sys.executable, "-m", "accelerate.commands.launch"]
    if launcher[-1].endswith("accelerate"):
        launcher.append("launch")
    return launcher + ["--multi_gpu", "--num_processes", str(n), "--num_machines", "1", "--mixed_precision", "no",
                       "--dynamo_backend", "no", "--main_process_port", str(29500 + os.getpid() % 1000),
                       "-m", "charter_pipeline"] + list(argv)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "evaluate":
        from . import evaluate_cli

        return evaluate_cli.main(argv[1:])
    t0 = time.monotonic()
    progress_ref: list = []
    _install_signal_handlers(progress_ref)
    args = _parse_args(argv)
    try:
        inputs = _prepare_inputs(args)
    except InputError as e:
        sys.stderr.write(f"charter-pipeline: error: {e}\n")
        Progress.take_stdout(enabled=is_main_process()).log(f"invalid input: {e}", level="error")
        return EXIT_BAD_INPUT
    m = inputs[0]
    cmd = _relaunch_command(m.parameters, argv)
    if cmd is not None:
        # Replace this process (same pid, same process group, so Charter's SIGTERM reaches all).
        env = dict(os.environ, CHARTER_PIPELINE_CHILD="1", OMP_NUM_THREADS=str(m.parameters["threads"]))
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(cmd[0], cmd, env) if Path(cmd[0]).is_absolute() else os.execvpe(cmd[0], cmd, env)
    progress = Progress.take_stdout(enabled=is_main_process())
    progress_ref.append(progress)
    try:
        res = run(*inputs, progress=progress, t0=t0)
        if not is_main_process():
            return 0
        res["wall_seconds"] = round(time.monotonic() - t0, 3)
        res["peak_rss_bytes"] = peak_rss_bytes()
        problems = results.check(res, m.output_dir)
        if problems:
            raise RuntimeError("results do not honour the contract: " + "; ".join(problems))
        results.write(m.output_dir, res)
        progress.done("results.json")
        return 0
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        progress.log(f"failed: {type(e).__name__}: {e}", level="error")
        return EXIT_FAILED
