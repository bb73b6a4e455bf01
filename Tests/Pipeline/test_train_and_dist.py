"""Training precision and learning rates, and the multi-process plumbing (issue 19, errors 1 and 6)."""
import os
from datetime import timedelta
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from charter_pipeline import dist, profiles, train


def test_lora_has_learning_rates_of_its_own():
    p = dict(profiles.defaults("gpu"))
    p["lora"] = False
    assert train.learning_rate(p, "dpo") == p["dpo_lr"] == 5e-7
    p["lora"] = True
    assert train.learning_rate(p, "dpo") == p["lora_dpo_lr"] and p["lora_dpo_lr"] >= 1e-5
    assert train.learning_rate(p, "sft") == p["lora_sft_lr"] == 1e-4


def test_trainer_arguments_carry_the_timeout_and_mixed_precision():
    p = dict(profiles.defaults("gpu"), ddp_timeout=77)
    args = train._common_args(Path("/tmp/x/model"), p, "cuda:0", 1, "sft")
    assert args["ddp_timeout"] == 77 and args["bf16"] is True
    assert train._common_args(Path("/tmp/x/model"), p, "cpu", 1, "sft")["bf16"] is False


def test_lora_merges_into_float32_weights():
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2)
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)   # as a bf16 checkpoint would arrive
    before = model.model.layers[0].self_attn.q_proj.weight.float().clone()
    peft = get_peft_model(model, LoraConfig(r=2, lora_alpha=2, target_modules=["q_proj"], lora_dropout=0.0))
    layer = peft.base_model.model.model.layers[0].self_attn.q_proj
    with torch.no_grad():
        layer.lora_A["default"].weight.fill_(1e-3)
        layer.lora_B["default"].weight.fill_(1e-3)    # update B @ A * scale = 2e-6 per weight
    merged = train.merge_lora_fp32(peft)
    w = merged.model.layers[0].self_attn.q_proj.weight
    assert w.dtype == torch.float32
    delta = (w - before).abs().mean().item()
    assert delta == pytest.approx(2e-6, rel=0.05)   # in bf16 most of it would have rounded away


def test_first_partial_state_gets_the_timeout(monkeypatch):
    made = []

    class FakeState:
        def __init__(self, **kw):
            made.append(kw)

    import accelerate

    monkeypatch.setattr(accelerate, "PartialState", FakeState)
    monkeypatch.setattr(dist, "_STATE", None)
    monkeypatch.setenv("WORLD_SIZE", "2")
    dist.init({"ddp_timeout": 123}, cpu=True)
    assert made == [{"timeout": timedelta(seconds=123), "cpu": True, "backend": "gloo"}]
    dist.init({"ddp_timeout": 5}, cpu=True)          # later calls reuse the first state
    assert len(made) == 1
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setattr(dist, "_STATE", None)
    assert dist.init({"ddp_timeout": 1}, cpu=True) is None and len(made) == 1


def test_work_is_spread_over_ranks_and_gathered_in_order(monkeypatch):
    items = list(range(11))
    parts = []
    for r in range(3):
        monkeypatch.setenv("WORLD_SIZE", "3")
        monkeypatch.setenv("RANK", str(r))
        monkeypatch.setattr(dist, "gather", lambda obj: [[], [], []])   # capture only this rank's share
        seen = []
        dist.shard_map(lambda xs: seen.extend(xs) or [x * 10 for x in xs], items)
        parts.append(seen)
    assert sorted(x for p in parts for x in p) == items and all(parts)
    assert dist.interleave([[x * 10 for x in p] for p in parts], 11) == [x * 10 for x in items]


def test_num_processes_relaunches_under_accelerate(monkeypatch):
    from charter_pipeline import main

    monkeypatch.delenv("CHARTER_PIPELINE_CHILD", raising=False)
    monkeypatch.setenv("WORLD_SIZE", "1")
    p = profiles.resolve("smoke", {"num_processes": 2})
    cmd = main._relaunch_command(p, ["--manifest", "m.json"])
    assert cmd[cmd.index("--num_processes") + 1] == "2"
    assert cmd[-4:] == ["-m", "charter_pipeline", "--manifest", "m.json"][-4:] and "launch" in cmd
    assert main._relaunch_command(profiles.resolve("smoke", {}), ["--manifest", "m.json"]) is None
    monkeypatch.setenv("CHARTER_PIPELINE_CHILD", "1")
    assert main._relaunch_command(p, ["--manifest", "m.json"]) is None


def test_expected_optimiser_steps_by_hand():
    p = dict(profiles.defaults("smoke"), sft_batch_size=8, sft_epochs=3, grad_accum=1, sft_max_steps=-1)
    assert train.expected_steps(80, p, "sft") == 30               # 10 batches x 3 epochs
    assert train.expected_steps(81, p, "sft") == 33               # a last, partial batch is a step
    assert train.expected_steps(80, p, "sft", world_size=4) == 9  # ceil(10 batches / 4 processes) x 3
    assert train.expected_steps(80, dict(p, grad_accum=4), "sft") == 9   # ceil(10 / 4) x 3
    assert train.expected_steps(80, dict(p, sft_max_steps=7), "sft") == 7
    assert train.expected_steps(0, p, "sft") == 0


def test_gpu_profile_trains_for_enough_steps_on_the_built_in_prompts():
    # Issue 19, error 1: 180 built-in prompts with 100 held out gave about 6 SFT and 5 DPO steps.
    from charter_pipeline import main, prompts

    p = profiles.resolve("gpu", {"model_path": "/nowhere"})
    ps = prompts.load(None)
    train_set, held = prompts.split(ps, p["prompts"], p["held_out"], seed=1234)
    assert len(held) == 100 and len(train_set) >= 300
    planned = main.planned_steps(p, len(train_set))
    assert planned["sft"] >= 60 and planned["dpo"] >= 60, planned
    assert min(main.planned_steps(p, len(train_set), processes=2).values()) >= main.MIN_STEPS
