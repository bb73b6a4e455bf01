"""Profile defaults. A manifest's `parameters` override them; unknown keys are an error.

Every knob has a default in every profile, so the set of accepted keys is the same whatever the
profile, and its type is the type of the default (`model_path` is the one string-or-null).
"""
from __future__ import annotations

from typing import Any

PROFILES = ("smoke", "small", "gpu")

# Shared defaults; the profiles below change only what differs.
_COMMON: dict[str, Any] = {
    # model
    "model_path": None,          # local model dir (transformers format); required by `gpu`
    "device": "auto",            # auto | cpu | cuda
    "threads": 2,                # torch CPU threads
    "bf16": False,
    "lora": False,               # LoRA adapters via peft (merged after each stage)
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "gradient_checkpointing": False,
    "lora_sft_lr": 1e-4,         # LoRA learning rates, used instead of sft_lr/dpo_lr when lora is on
    "lora_dpo_lr": 5e-5,
    # experiment design
    "replicates": 1,             # training seeds per arm (the same seeds for every arm)
    "baseline_seed_offset": 0,   # shifts the baseline arm's training seeds (A/A tests); 0 = identical seeds
    "sl_requests": "template",   # template: every principle's critique/revision request comes from the
                                 # same CAI template; constitution: hand-written requests where present
    # processes
    "num_processes": 1,          # >1: the pipeline relaunches itself with `accelerate launch`
    "ddp_timeout": 1800,         # seconds a process waits for the others (first PartialState and Trainer)
    # prompts
    "prompts": 8,                # training prompts (SL-CAI and RL-CAI)
    "held_out": 4,               # held-out prompts (cross-judgement, refusal rate)
    # generation
    "max_new_tokens": 40,
    "temperature": 0.8,
    "top_p": 0.95,
    "gen_batch_size": 8,
    "score_batch_size": 8,
    "max_length": 384,           # training sequence cap (TRL max_length)
    # SL-CAI / SFT
    "sft_epochs": 1,
    "sft_max_steps": -1,         # -1: epochs decide
    "sft_batch_size": 4,
    "sft_lr": 2e-5,
    "grad_accum": 1,
    # RL-CAI / DPO
    "feedback_both_orders": True,  # RL-CAI labels: ask with A/B swapped too, average (the judge always does)
    "preference_margin": 0.05,   # drop preference pairs with |p_a - p_b| below this (near-ties); identical pairs always
    "drop_truncated_revisions": True,  # revisions cut at max_new_tokens are left out of SFT (counted)
    "dpo_epochs": 1,
    "dpo_max_steps": -1,
    "dpo_batch_size": 4,
    "dpo_lr": 5e-6,
    "dpo_beta": 0.1,
    # evaluation
    "bbq_per_stratum": 2,        # per category x polarity x label-is-target (disambig; 2x for ambig); -1 all
    "bbq_categories": "all",     # "all" or comma-separated category names
    "bbq_scoring": "letter",     # letter | loglik (see bbq.py)
    "judge_max_new_tokens": 40,
    "judge_model_path": None,    # neutral judge; null = the base model (which also labelled both arms' data)
    "neutral_judge": True,       # judge the arms under fixed HHH principles neither arm trained on
    "evaluate_base": True,       # run the battery on the base model too (base -> arm rows)
    # evaluation battery sizes: -1 = the whole set, 0 = skip
    "opinion_questions": 40,     # GlobalOpinionQA questions (each compared with every country asked)
    "mmlu_per_subject": 2,       # MMLU questions per subject (57 subjects)
    "gsm8k_items": 10,
    "gsm8k_max_new_tokens": 160,
    "hhh_items": -1,             # HHH alignment pairs (221)
    "hh_rlhf_items": 16,         # hh-rlhf harmless-base first human turns
    "discrim_scenarios": 10,     # discrim-eval scenarios (8 demographic versions each)
    "persona_items": 40,         # per persona file
    "winogender_occupations": -1,  # of 60
    # uncertainty
    "bootstrap_samples": 1000,
    "alpha": 0.05,               # family-wise error rate for the Holm correction
}

_PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "smoke": {
        "threads": 1,
        "prompts": 6,
        "held_out": 4,
        "max_new_tokens": 12,
        "judge_max_new_tokens": 12,
        "gen_batch_size": 16,
        "score_batch_size": 32,
        "max_length": 128,
        "sft_batch_size": 3,
        "sft_lr": 1e-3,
        "dpo_batch_size": 3,
        "dpo_lr": 1e-4,
        "bbq_per_stratum": 1,
        "bbq_scoring": "loglik",
        "preference_margin": 0.0,
        "drop_truncated_revisions": False,   # the random tiny model never ends a turn by itself
        "opinion_questions": 10,
        "mmlu_per_subject": 1,
        "gsm8k_items": 10,
        "gsm8k_max_new_tokens": 8,
        "hhh_items": 20,
        "hh_rlhf_items": 10,
        "discrim_scenarios": 10,
        "persona_items": 10,
        "winogender_occupations": 10,
        "bootstrap_samples": 300,
    },
    "small": {
        "threads": 2,
        "prompts": 8,
        "held_out": 12,              # judged rows and refusals need 10 or more items to be tested
        "max_new_tokens": 64,        # at 32, most SmolLM2 revisions were cut (and left out of SFT)
        "judge_max_new_tokens": 32,
        "gen_batch_size": 8,
        "score_batch_size": 8,
        "max_length": 256,
        "sft_batch_size": 4,
        "sft_lr": 2e-5,
        "dpo_batch_size": 4,
        "dpo_lr": 5e-6,
        # Sizes for about 15 minutes on two CPU cores (each model answers ~480 items). Every
        # evaluation of the battery has 10 or more items, so each of its rows is tested
        # (report.MIN_TEST_N); the held-out prompts' few harmful requests are not.
        "bbq_per_stratum": 1,
        "bbq_scoring": "loglik",
        "opinion_questions": 20,
        "mmlu_per_subject": 1,
        "gsm8k_items": 10,
        "gsm8k_max_new_tokens": 96,
        "hhh_items": 60,
        "hh_rlhf_items": 12,
        "discrim_scenarios": 10,
        "persona_items": 12,
        "winogender_occupations": 30,
    },
    "gpu": {
        "device": "auto",
        "threads": 8,
        "bf16": True,
        "gradient_checkpointing": True,
        "prompts": 10_000,       # capped by the prompt set's size
        "held_out": 100,
        "max_new_tokens": 256,
        "judge_max_new_tokens": 256,
        "gen_batch_size": 32,
        "score_batch_size": 32,
        "max_length": 1024,
        # With the built-in prompt set (420 prompts: 320 for training once 100 are held out) this
        # is 80 SFT and at most 80 DPO optimiser steps on one process (train.expected_steps);
        # results.json states the steps actually taken.
        "sft_epochs": 2,
        "sft_batch_size": 8,
        "sft_lr": 1e-5,
        "grad_accum": 1,
        "dpo_batch_size": 4,
        "dpo_lr": 5e-7,
        "dpo_epochs": 1,
        "bbq_per_stratum": -1,
        "bbq_scoring": "letter",
        "opinion_questions": -1,
        "mmlu_per_subject": -1,
        "gsm8k_items": -1,
        "gsm8k_max_new_tokens": 256,
        "hhh_items": -1,
        "hh_rlhf_items": -1,
        "discrim_scenarios": -1,
        "persona_items": -1,
        "winogender_occupations": -1,
        "bootstrap_samples": 2000,
    },
}

_CHOICES = {
    "device": ("auto", "cpu", "cuda"),
    "bbq_scoring": ("letter", "loglik"),
    "sl_requests": ("template", "constitution"),
}
_NULLABLE_STRINGS = ("model_path", "judge_model_path")
EVAL_SIZES = ("opinion_questions", "mmlu_per_subject", "gsm8k_items", "hhh_items", "hh_rlhf_items",
              "discrim_scenarios", "persona_items", "winogender_occupations")


class ParameterError(ValueError):
    pass


def defaults(profile: str) -> dict[str, Any]:
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    merged = dict(_COMMON)
    merged.update(_PROFILE_DEFAULTS[profile])
    return merged


def _coerce(key: str, value: Any, default: Any) -> Any:
    if key in _NULLABLE_STRINGS:
        if value is None or isinstance(value, str):
            return value
        raise ParameterError(f"parameter {key!r} must be a string or null, got {value!r}")
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ParameterError(f"parameter {key!r} must be true or false, got {value!r}")
    if isinstance(default, int):
        # JSON writers sometimes emit 8.0 for 8; accept integral floats, nothing else.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ParameterError(f"parameter {key!r} must be an integer, got {value!r}")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"parameter {key!r} must be a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ParameterError(f"parameter {key!r} must be a string, got {value!r}")
        return value
    raise ParameterError(f"parameter {key!r} has an unsupported type")


def resolve(profile: str, overrides: dict[str, Any] | None) -> dict[str, Any]:
    params = defaults(profile)
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(params))}")
    for key, value in overrides.items():
        params[key] = _coerce(key, value, params[key])
    for key, choices in _CHOICES.items():
        if params[key] not in choices:
            raise ParameterError(f"parameter {key!r} must be one of {', '.join(choices)}, got {params[key]!r}")
    for key in ("prompts", "held_out", "max_new_tokens", "judge_max_new_tokens", "gen_batch_size",
                "score_batch_size", "max_length", "sft_batch_size", "dpo_batch_size", "grad_accum",
                "sft_epochs", "dpo_epochs", "threads", "lora_r", "lora_alpha", "replicates", "num_processes",
                "ddp_timeout", "gsm8k_max_new_tokens", "bootstrap_samples"):
        if params[key] < 1:
            raise ParameterError(f"parameter {key!r} must be at least 1, got {params[key]}")
    for key in ("bbq_per_stratum",) + EVAL_SIZES:
        if params[key] < -1:
            raise ParameterError(f"parameter {key!r} must be -1 (all), 0 (skip) or more, got {params[key]}")
    if params["baseline_seed_offset"] < 0:
        raise ParameterError("parameter 'baseline_seed_offset' must be 0 or more")
    if not 0.0 <= params["preference_margin"] < 1.0:
        raise ParameterError("parameter 'preference_margin' must be in [0, 1)")
    if not 0.0 < params["alpha"] < 1.0:
        raise ParameterError("parameter 'alpha' must be in (0, 1)")
    if params["sft_max_steps"] == 0 or params["dpo_max_steps"] == 0:
        raise ParameterError("'sft_max_steps'/'dpo_max_steps' must be -1 (use epochs) or at least 1")
    if profile == "gpu" and not params["model_path"]:
        raise ParameterError("profile 'gpu' needs parameters.model_path (a local model directory)")
    return params
