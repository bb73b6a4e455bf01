"""SFT and DPO with TRL (1.16: `max_length`, `processing_class=`, `use_cpu=`)."""
from __future__ import annotations

import gc
import math
import os
from pathlib import Path
from typing import Any

from .progress import Progress


def _callback(progress: Progress, arm: str, stage: str, losses: list, last_logs: dict):
    from transformers import TrainerCallback

    class _Cb(TrainerCallback):
        # Our own progress and loss events; transformers' printing callbacks are removed.
        def on_train_begin(self, args, state, control, **kw):
            if state.is_world_process_zero:
                progress.progress(arm, stage, 0, max(state.max_steps, 1))

        def on_step_end(self, args, state, control, **kw):
            if state.is_world_process_zero:
                progress.progress(arm, stage, state.global_step, max(state.max_steps, 1))

        def on_log(self, args, state, control, logs=None, **kw):
            if not logs or not state.is_world_process_zero:
                return
            if "loss" in logs:
                value = float(logs["loss"])
                losses.append([int(state.global_step), value if math.isfinite(value) else None])
                progress.metric(arm, stage, "loss", state.global_step, value)
                last_logs.clear()
                last_logs.update({k: v for k, v in logs.items() if isinstance(v, (int, float))})

    return _Cb()


def _common_args(out_dir: Path, params: dict, device: str, seed: int, stage: str) -> dict[str, Any]:
    cpu = device == "cpu"
    return dict(
        # Trainer scratch space sits beside the model folder, never inside it.
        output_dir=str(out_dir.parent / f".{stage}-trainer"),
        per_device_train_batch_size=params[f"{stage}_batch_size"],
        gradient_accumulation_steps=params["grad_accum"],
        learning_rate=learning_rate(params, stage),
        num_train_epochs=params[f"{stage}_epochs"],
        max_steps=params[f"{stage}_max_steps"],
        lr_scheduler_type="constant",
        warmup_steps=0,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=seed,
        data_seed=seed,
        use_cpu=cpu,
        # TRL defaults to bf16 and gradient checkpointing; on a CPU both only cost time.
        bf16=bool(params["bf16"]) and not cpu,
        gradient_checkpointing=bool(params["gradient_checkpointing"]) and not cpu,
        dataloader_num_workers=0,
        max_length=params["max_length"],
        ddp_timeout=params.get("ddp_timeout", 1800),
        ddp_backend=("gloo" if cpu and int(os.environ.get("WORLD_SIZE", "1")) > 1 else None),
    )


def expected_steps(n_rows: int, params: dict, stage: str, world_size: int = 1) -> int:
    """The optimiser steps the Trainer will take for `n_rows` examples: `<stage>_max_steps` when set,
    else epochs x updates per epoch, where each process sees ceil(ceil(n / batch) / processes)
    batches (accelerate shards whole batches) and an update is `grad_accum` of them."""
    if params[f"{stage}_max_steps"] > 0:
        return int(params[f"{stage}_max_steps"])
    if n_rows <= 0:
        return 0
    batches = math.ceil(math.ceil(n_rows / params[f"{stage}_batch_size"]) / max(world_size, 1))
    per_epoch = max(math.ceil(batches / params["grad_accum"]), 1)
    return math.ceil(params[f"{stage}_epochs"] * per_epoch)


def learning_rate(params: dict, stage: str) -> float:
    """LoRA adapters have learning rates of their own (~1e-4): full fine-tuning's are far too small."""
    return params[f"lora_{stage}_lr"] if params["lora"] else params[f"{stage}_lr"]


def merge_lora_fp32(peft_model):
    """Merge LoRA adapters into float32 base weights: merged into bf16, most of a small update
    (B @ A * scale ~ 1e-6) would round away."""
    import torch

    peft_model = peft_model.to(torch.float32)
    return peft_model.merge_and_unload()


def _peft_config(params: dict):
    if not params["lora"]:
        return None
    from peft import LoraConfig

    return LoraConfig(r=params["lora_r"], lora_alpha=params["lora_alpha"], lora_dropout=params["lora_dropout"],
                      target_modules="all-linear", task_type="CAUSAL_LM")


def _quiet(trainer) -> None:
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)


def _save(trainer, tok, out_dir: Path, lora: bool) -> None:
    """Save a full model (LoRA merged in), so the next stage and the evaluation load plain weights."""
    if lora:
        trainer.accelerator.wait_for_everyone()
        if trainer.accelerator.is_main_process:
            merged = merge_lora_fp32(trainer.accelerator.unwrap_model(trainer.model))
            merged.save_pretrained(out_dir, safe_serialization=True)
            tok.save_pretrained(out_dir)
    else:
        trainer.save_model(str(out_dir))
        if trainer.accelerator.is_main_process:
            tok.save_pretrained(out_dir)
    trainer.accelerator.wait_for_everyone()


def sft(model, tok, rows: list[dict], out_dir: Path, params: dict, device: str, seed: int,
        progress: Progress, arm: str) -> tuple[list, dict]:
    """rows: conversational prompt-completion ({"prompt": [user msg], "completion": [assistant msg]});
    the loss is on the completion (the revision) only."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    losses: list = []
    last: dict = {}
    cfg = SFTConfig(**_common_args(out_dir, params, device, seed, "sft"), completion_only_loss=True,
                    packing=False)
    trainer = SFTTrainer(model=model, args=cfg, train_dataset=Dataset.from_list(rows), processing_class=tok,
                         peft_config=_peft_config(params), callbacks=[_callback(progress, arm, "sft", losses, last)])
    _quiet(trainer)
    trainer.train()
    _save(trainer, tok, out_dir, bool(params["lora"]))
    steps = int(trainer.state.global_step)
    del trainer
    gc.collect()
    return losses, {"steps": steps, **last}


def dpo(model, ref_model, tok, rows: list[dict], out_dir: Path, params: dict, device: str, seed: int,
        progress: Progress, arm: str) -> tuple[list, dict]:
    """rows: {"prompt": [user msg], "chosen": [assistant msg], "rejected": [assistant msg]}.
    `ref_model` is a second copy of the SFT model (None with LoRA: the adapter-free model is the
    SFT model then)."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    losses: list = []
    last: dict = {}
    cfg = DPOConfig(**_common_args(out_dir, params, device, seed, "dpo"), beta=params["dpo_beta"])
    trainer = DPOTrainer(model=model, ref_model=ref_model, args=cfg, train_dataset=Dataset.from_list(rows),
                         processing_class=tok, peft_config=_peft_config(params),
                         callbacks=[_callback(progress, arm, "dpo", losses, last)])
    _quiet(trainer)
    trainer.train()
    _save(trainer, tok, out_dir, bool(params["lora"]))
    steps = int(trainer.state.global_step)
    del trainer
    gc.collect()
    return losses, {"steps": steps, **last}
