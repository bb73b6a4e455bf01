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
from . import judge as judge_mod
from . import manifest as manifest_mod
from . import prompts as prompts_mod
from . import refusal, results
from .progress import Progress, StageCounter
from .util import is_main_process, peak_rss_bytes, read_jsonl, sha256_file, stage_seed, world_size, write_jsonl

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
        if m.parameters["bbq_per_stratum"] > 0:
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
    if world_size() > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()


def _dataset_entry(output_dir: Path, path: Path, rows: int) -> dict:
    return {"path": str(path.relative_to(output_dir)), "rows": rows, "sha256": sha256_file(path)}


def _sft_rows(sl_rows: list[dict]) -> list[dict]:
    return [{"prompt": [{"role": "user", "content": r["prompt"]}],
             "completion": [{"role": "assistant", "content": r["revision"]}]} for r in sl_rows]


def _dpo_rows(pref_rows: list[dict]) -> list[dict]:
    return [{"prompt": [{"role": "user", "content": r["prompt"]}],
             "chosen": [{"role": "assistant", "content": r["chosen"]}],
             "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in pref_rows]


def run(m, constitutions, all_prompts, train, held, bbq_examples, progress: Progress, t0: float) -> dict:
    params = m.parameters
    main_proc = is_main_process()
    out = m.output_dir
    out.mkdir(parents=True, exist_ok=True)
    arm_names = [a.name for a in m.arms]
    log = progress.log

    progress.progress(None, "setup", 0, 3)
    log(f"profile {m.profile}, seed {m.seed}, {len(train)} training / {len(held)} held-out prompts, "
        f"{len(bbq_examples)} BBQ examples per arm")
    _configure_runtime(params)
    from . import cai, evaluate, models, train as train_mod

    progress.progress(None, "setup", 1, 3)
    device = models.resolve_device(params["device"])
    if params["model_path"]:
        base = models.local_model(params["model_path"])
    elif m.profile == "smoke":
        base = models.build_tiny([p.prompt for p in prompts_mod.load(None)], log)
    else:
        base = models.prepare_smollm2(log)
    log(f"base model: {base.name} on {device}", path=str(base.path))
    tok = models.load_tokenizer(base.path)
    # The base model generates the SL-CAI data and is the feedback model (never fine-tuned).
    feedback_model = models.load_model(base.path, params, device) if main_proc else None
    if feedback_model is not None:
        feedback_model.requires_grad_(False)
        feedback_model.eval()
    progress.progress(None, "setup", 3, 3)
    timings_top = {"setup": round(time.monotonic() - t0, 3)}

    (out / "prompts").mkdir(exist_ok=True)
    if main_proc:
        write_jsonl(out / "prompts" / "train.jsonl", [{"prompt": p.prompt, "category": p.category} for p in train])
        write_jsonl(out / "prompts" / "held_out.jsonl", [{"prompt": p.prompt, "category": p.category} for p in held])

    # Shared initial responses: same base model, prompts and seed for every arm.
    t = time.monotonic()
    initial = []
    if main_proc:
        c = StageCounter(progress, None, "sl", len(train))
        initial = cai.initial_responses(feedback_model, tok, train, params, m.seed, c.advance)
        c.finish()
    timings_top["initial_responses"] = round(time.monotonic() - t, 3)

    arms_out: dict[str, dict] = {}
    for arm in m.arms:
        name = arm.name
        const = constitutions[name]
        adir = out / name
        adir.mkdir(parents=True, exist_ok=True)
        timings: dict[str, float] = {}
        datasets_info: dict[str, dict] = {}
        training_info: dict[str, dict] = {}

        # 1. SL-CAI data: critique and revision with a random principle per prompt.
        t = time.monotonic()
        sl_path = adir / "sl.jsonl"
        if main_proc:
            c = StageCounter(progress, name, "sl", 2 * len(train))
            sl_rows = cai.critique_and_revise(feedback_model, tok, const, train, initial, params, m.seed, c.advance)
            write_jsonl(sl_path, sl_rows)
            c.finish()
        _barrier()
        sl_rows = read_jsonl(sl_path)
        datasets_info["sl"] = _dataset_entry(out, sl_path, len(sl_rows))
        timings["sl"] = round(time.monotonic() - t, 3)

        # 2. SFT on (prompt, revision).
        t = time.monotonic()
        model = models.load_model(base.path, params, device)
        sft_losses, training_info["sft"] = train_mod.sft(
            model, tok, _sft_rows(sl_rows), adir / "sft", params, device, stage_seed(m.seed, "sft"), progress, name)
        del model
        gc.collect()
        timings["sft"] = round(time.monotonic() - t, 3)

        # 3. RL-CAI pairs: two samples from the SFT model, labelled by the feedback model.
        t = time.monotonic()
        pref_path = adir / "preferences.jsonl"
        policy = models.load_model(adir / "sft", params, device)
        if main_proc:
            c = StageCounter(progress, name, "pairs", 2 * len(train))
            pairs = cai.sample_pairs(policy, tok, train, params, m.seed, c.advance)
            pref_rows = cai.label_pairs(feedback_model, tok, const, train, pairs, params, m.seed, c.advance)
            write_jsonl(pref_path, pref_rows)
            c.finish()
        _barrier()
        pref_rows = read_jsonl(pref_path)
        datasets_info["preferences"] = _dataset_entry(out, pref_path, len(pref_rows))
        timings["pairs"] = round(time.monotonic() - t, 3)

        # 4. DPO from the SFT model, with the SFT model as reference.
        t = time.monotonic()
        ref = None if params["lora"] else models.load_model(adir / "sft", params, device)
        dpo_losses, training_info["dpo"] = train_mod.dpo(
            policy, ref, tok, _dpo_rows(pref_rows), adir / "model", params, device, stage_seed(m.seed, "dpo"),
            progress, name)
        del policy, ref
        gc.collect()
        timings["dpo"] = round(time.monotonic() - t, 3)

        # 5. BBQ on the final model.
        t = time.monotonic()
        bbq_scores = {"categories": {}, "overall": {}}
        if main_proc:
            final = models.load_model(adir / "model", params, device)
            c = StageCounter(progress, name, "bbq", len(bbq_examples))
            if bbq_examples:
                preds, scores = evaluate.bbq_predict(final, tok, bbq_examples, params, c.advance)
                bbq_scores = bbq_mod.score(bbq_examples, preds)
                bbq_rows = [{"category": ex["category"], "example_id": ex["example_id"],
                             "context_condition": ex["context_condition"],
                             "question_polarity": ex["question_polarity"], "label": ex["label"],
                             "target": bbq_mod.target_index(ex), "unknown": bbq_mod.unknown_index(ex),
                             "prediction": p, "scores": s} for ex, p, s in zip(bbq_examples, preds, scores)]
                bbq_path = adir / "bbq.jsonl"
                write_jsonl(bbq_path, bbq_rows)
                datasets_info["bbq"] = _dataset_entry(out, bbq_path, len(bbq_rows))
            c.finish()
            del final
            gc.collect()
        timings["bbq"] = round(time.monotonic() - t, 3)

        model_sha = models.weights_sha256(adir / "model") if main_proc else None
        if main_proc and (adir / "sft").exists() and not _keep_sft():
            shutil.rmtree(adir / "sft", ignore_errors=True)
        shutil.rmtree(adir / ".sft-trainer", ignore_errors=True)
        shutil.rmtree(adir / ".dpo-trainer", ignore_errors=True)

        ov = bbq_scores.get("overall") or {}
        arms_out[name] = {
            # Charter's identity for the constitution (the canonical hash the manifest gives);
            # the bytes the pipeline read are hashed apart as file_sha256.
            "constitution_sha256": arm.constitution_meta.get("sha256") or const.sha256,
            "constitution": {"name": const.name, "version": const.version, "kind": const.kind,
                             "principles": len(const.principles), "path": str(arm.constitution_json),
                             "file_sha256": const.sha256},
            "metrics": {
                "bbq.accuracy.ambig": (ov.get("ambig") or {}).get("accuracy"),
                "bbq.accuracy.disambig": (ov.get("disambig") or {}).get("accuracy"),
                "bbq.bias.ambig": (ov.get("ambig") or {}).get("bias"),
                "bbq.bias.disambig": (ov.get("disambig") or {}).get("bias"),
            },
            "bbq": {cat: {cond: {k: v[k] for k in ("n", "accuracy", "bias")} for cond, v in conds.items()}
                    for cat, conds in bbq_scores.get("categories", {}).items()},
            "bbq_counts": bbq_scores.get("categories", {}),
            "losses": {"sft": sft_losses, "dpo": dpo_losses},
            "training": training_info,
            "timings": timings,
            "model_sha256": model_sha,
            "model_path": str((adir / "model").relative_to(out)),
            "datasets": datasets_info,
        }

    if not main_proc:
        return {}

    # 6. Cross-judgement on held-out prompts, and refusal rates.
    t = time.monotonic()
    n_judge = len(held) * len(arm_names) + len(held) * len(arm_names) * (len(arm_names) * (len(arm_names) - 1) // 2)
    c = StageCounter(progress, "both", "judge", n_judge)
    answers: dict[str, list[str]] = {}
    for name in arm_names:
        final = models.load_model(out / name / "model", params, device)
        answers[name] = evaluate.held_out_answers(final, tok, held, params, m.seed, c.advance)
        del final
        gc.collect()
        ho_path = out / name / "held_out.jsonl"
        write_jsonl(ho_path, [{"prompt": p.prompt, "category": p.category, "response": r,
                               "refusal": refusal.is_refusal(r)} for p, r in zip(held, answers[name])])
        arms_out[name]["datasets"]["held_out"] = _dataset_entry(out, ho_path, len(held))
        arms_out[name]["metrics"]["refusal_rate"] = refusal.refusal_rate(answers[name])
    comparisons, judge_rows = evaluate.cross_judge(feedback_model, tok, arm_names, constitutions, answers, held,
                                                   params, m.seed, c.advance)
    c.finish()
    rates = judge_mod.win_rates(comparisons, arm_names, arm_names)
    prefs = judge_mod.mean_preference(comparisons, arm_names, arm_names)
    for name in arm_names:
        for cname in arm_names:
            arms_out[name]["metrics"][f"judge.win_rate.{cname}"] = rates[name][cname]
    judge_path = out / "judge.jsonl"
    write_jsonl(judge_path, judge_rows)
    timings_top["judge"] = round(time.monotonic() - t, 3)

    return {
        "schema": results.SCHEMA,
        "run_id": m.run_id,
        "profile": m.profile,
        "seed": m.seed,
        "parameters": params,
        "pipeline": results.versions(),
        "base_model": {"name": base.name, "sha256": base.sha256, "path": str(base.path)},
        "prompts": {"train": len(train), "held_out": len(held),
                    "sha256": sha256_file(m.prompts_path or prompts_mod.BUILTIN_PROMPTS),
                    "source": str(m.prompts_path or prompts_mod.BUILTIN_PROMPTS), "available": len(all_prompts)},
        "bbq": {"examples": len(bbq_examples), "per_stratum": params["bbq_per_stratum"],
                "scoring": params["bbq_scoring"], "dir": str(m.bbq_dir)},
        "judge": {"path": str(judge_path.relative_to(out)), "comparisons": len(comparisons),
                  "win_rates": rates, "mean_preference": prefs},
        "timings": timings_top,
        "device": device,
        "metrics": results.metric_catalogue(arm_names),
        "arms": arms_out,
    }


def _keep_sft() -> bool:
    # The SFT checkpoint is an intermediate; keep it only when asked (it doubles the disk use).
    return os.environ.get("CHARTER_PIPELINE_KEEP_SFT", "") not in ("", "0", "false", "no")


def main(argv=None) -> int:
    t0 = time.monotonic()
    progress_ref: list = []
    _install_signal_handlers(progress_ref)
    args = _parse_args(argv)
    progress = Progress.take_stdout(enabled=is_main_process())
    progress_ref.append(progress)
    try:
        inputs = _prepare_inputs(args)
    except InputError as e:
        sys.stderr.write(f"charter-pipeline: error: {e}\n")
        progress.log(f"invalid input: {e}", level="error")
        return EXIT_BAD_INPUT
    m = inputs[0]
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
