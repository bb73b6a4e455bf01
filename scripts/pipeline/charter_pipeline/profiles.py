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
    "feedback_both_orders": True,  # ask the feedback model with A/B swapped too, average
    "dpo_epochs": 1,
    "dpo_max_steps": -1,
    "dpo_batch_size": 4,
    "dpo_lr": 5e-6,
    "dpo_beta": 0.1,
    # evaluation
    "bbq_per_stratum": 2,        # examples per category x {ambig,disambig} x {neg,nonneg}
    "bbq_categories": "all",     # "all" or comma-separated category names
    "bbq_scoring": "letter",     # letter | loglik (see bbq.py)
    "judge_max_new_tokens": 40,
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
    },
    "small": {
        "threads": 2,
        "prompts": 8,
        "held_out": 4,
        "max_new_tokens": 32,
        "judge_max_new_tokens": 32,
        "gen_batch_size": 8,
        "score_batch_size": 8,
        "max_length": 256,
        "sft_batch_size": 4,
        "sft_lr": 2e-5,
        "dpo_batch_size": 4,
        "dpo_lr": 5e-6,
        "bbq_per_stratum": 2,
        "bbq_scoring": "loglik",
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
        "sft_epochs": 2,
        "sft_batch_size": 8,
        "sft_lr": 1e-5,
        "grad_accum": 4,
        "dpo_batch_size": 4,
        "dpo_lr": 5e-7,
        "dpo_epochs": 1,
        "bbq_per_stratum": 50,
        "bbq_scoring": "letter",
    },
}

_CHOICES = {
    "device": ("auto", "cpu", "cuda"),
    "bbq_scoring": ("letter", "loglik"),
}


class ParameterError(ValueError):
    pass


def defaults(profile: str) -> dict[str, Any]:
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    merged = dict(_COMMON)
    merged.update(_PROFILE_DEFAULTS[profile])
    return merged


def _coerce(key: str, value: Any, default: Any) -> Any:
    if key == "model_path":
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
                "sft_epochs", "dpo_epochs", "threads", "lora_r", "lora_alpha"):
        if params[key] < 1:
            raise ParameterError(f"parameter {key!r} must be at least 1, got {params[key]}")
    if params["bbq_per_stratum"] < 0:
        raise ParameterError("parameter 'bbq_per_stratum' must be 0 (skip BBQ) or more")
    if params["sft_max_steps"] == 0 or params["dpo_max_steps"] == 0:
        raise ParameterError("'sft_max_steps'/'dpo_max_steps' must be -1 (use epochs) or at least 1")
    if profile == "gpu" and not params["model_path"]:
        raise ParameterError("profile 'gpu' needs parameters.model_path (a local model directory)")
    return params
