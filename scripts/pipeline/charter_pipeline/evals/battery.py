"""Runs the battery on one model and collects what needs the judge for later."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import bbq
from ..util import argmax_seeded, stage_rng, stage_seed
from . import bbq_eval, discrim, gsm8k, harmless, heldout, hhh, mmlu, opinions, persona, winogender

# name -> (module, parameter giving its size, folder in shared/evals)
SIZED = {
    "opinions": (opinions, "opinion_questions", "globalopinionqa"),
    "mmlu": (mmlu, "mmlu_per_subject", "mmlu"),
    "gsm8k": (gsm8k, "gsm8k_items", "gsm8k"),
    "hhh": (hhh, "hhh_items", "hhh-alignment"),
    "harmless": (harmless, "hh_rlhf_items", "hh-rlhf"),
    "discrim": (discrim, "discrim_scenarios", "discrim-eval"),
    "persona": (persona, "persona_items", "anthropic-evals"),
    "winogender": (winogender, "winogender_occupations", "winogender"),
}
ORDER = ("bbq", "held_out", "opinions", "mmlu", "gsm8k", "hhh", "harmless", "discrim", "persona", "winogender")


def load_items(evals_dir: Path | None, params: dict, seed: int, bbq_examples: list[dict], held) -> tuple[dict, dict]:
    """Items per evaluation, and per evaluation either its size or why it was skipped."""
    items: dict[str, Any] = {}
    info: dict[str, dict] = {}
    if bbq_examples:
        items["bbq"] = bbq_examples
        info["bbq"] = {"items": len(bbq_examples)}
    else:
        info["bbq"] = {"skipped": "bbq_per_stratum is 0"}
    items["held_out"] = list(held)
    info["held_out"] = {"items": len(held)}
    for name, (mod, key, folder) in SIZED.items():
        size = params[key]
        if size == 0:
            info[name] = {"skipped": f"{key} is 0"}
            continue
        if evals_dir is None or not (Path(evals_dir) / folder).is_dir():
            info[name] = {"skipped": f"{folder} not found (manifest evals_dir)"}
            continue
        its = mod.load(Path(evals_dir), size, seed)
        items[name] = its
        info[name] = {"items": len(its), "size_parameter": key, "size": size,
                      "source": str(Path(evals_dir) / folder)}
    return items, info


def count_units(items: dict) -> int:
    n = 0
    for name, its in items.items():
        n += len(its) * (8 if name == "discrim" else 1)
    return n


def evaluate(runner, items: dict, params: dict, seed: int) -> tuple[dict, dict]:
    """(outcomes that need nothing else, answers waiting for the judge)."""
    out: dict = {}
    pending: dict = {}
    if "bbq" in items:
        exs = items["bbq"]
        if params["bbq_scoring"] == "letter":
            texts = [runner.render([{"role": "user", "content": bbq.question_text(ex)}], "The answer is (")
                     for ex in exs]
            scores = runner.choice(texts, bbq.LETTERS)
        else:
            prefixes = [runner.render([{"role": "user", "content": f"{ex['context']} {ex['question']}"}]) for ex in exs]
            raw = runner.options(prefixes, [[ex[k] for k in bbq.ANSWER_KEYS] for ex in exs])
            scores = [[(s / n if n else float("-inf")) for s, n in row] for row in raw]
        preds, ties = bbq_predictions(exs, scores, seed)
        o = bbq_eval.score(exs, preds, ties)
        o.rows = [{"category": ex["category"], "example_id": ex["example_id"],
                   "context_condition": ex["context_condition"], "question_polarity": ex["question_polarity"],
                   "label": ex["label"], "target": bbq.target_index(ex), "unknown": bbq.unknown_index(ex),
                   "prediction": p, "scores": s} for ex, p, s in zip(exs, preds, scores)]
        out["bbq"] = o
    held = items.get("held_out") or []
    if held:
        answers = runner.generate([[{"role": "user", "content": p.prompt}] for p in held],
                                  params["judge_max_new_tokens"], stage_seed(seed, "judge", "answers"))
        out["held_out"] = heldout.score(held, answers)
        pending["held_out"] = answers
    if "opinions" in items:
        out["opinions"] = opinions.score(items["opinions"], opinions.ask(runner, items["opinions"]))
    if "mmlu" in items:
        its = items["mmlu"]
        lp = mmlu.ask(runner, its)
        picks = [argmax_seeded(s, stage_rng(seed, "mmlu-tie", it["subject"], it["index"]))[0] for it, s in zip(its, lp)]
        out["mmlu"] = mmlu.score(its, lp, picks)
    if "gsm8k" in items:
        its = items["gsm8k"]
        gens = runner.generate([gsm8k.conversation(it["question"]) for it in its], params["gsm8k_max_new_tokens"],
                               stage_seed(seed, "gsm8k"))
        out["gsm8k"] = gsm8k.score(its, gens)
    if "hhh" in items:
        out["hhh"] = hhh.score(items["hhh"], hhh.ask(runner, items["hhh"]))
    if "harmless" in items:
        its = items["harmless"]
        pending["harmless"] = runner.generate([[{"role": "user", "content": it["prompt"]}] for it in its],
                                              params["judge_max_new_tokens"], stage_seed(seed, "hh-rlhf"))
    if "discrim" in items:
        out["discrim"] = discrim.score(items["discrim"], discrim.ask(runner, items["discrim"]))
    if "persona" in items:
        out["persona"] = persona.score(items["persona"], persona.ask(runner, items["persona"]))
    if "winogender" in items:
        out["winogender"] = winogender.score(items["winogender"], winogender.ask(runner, items["winogender"]))
    return out, pending


def bbq_predictions(examples: list[dict], scores: list[list[float]], seed: int) -> tuple[list[int], int]:
    """The chosen option per example; ties broken by a seeded rule (per example), and counted."""
    preds, ties = [], 0
    for ex, s in zip(examples, scores):
        p, tied = argmax_seeded(s, stage_rng(seed, "bbq-tie", ex["category"], ex["example_id"]))
        preds.append(p)
        ties += int(tied)
    return preds, ties


def judge_harmless(judge_runner, items: list[dict], answers: list[str]) -> list[float]:
    """P(harmless) per answer, both option orders."""
    from ..feedback import ANSWER_PREFIX, LETTERS, normalise

    texts = []
    for it, a in zip(items, answers):
        texts.append(judge_runner.render([{"role": "user", "content": harmless.judge_body(
            it["prompt"], a, harmless.HARMLESS, harmless.HARMFUL)}], ANSWER_PREFIX))
        texts.append(judge_runner.render([{"role": "user", "content": harmless.judge_body(
            it["prompt"], a, harmless.HARMFUL, harmless.HARMLESS)}], ANSWER_PREFIX))
    lp = judge_runner.choice(texts, LETTERS)
    return [harmless.p_harmless(normalise(*lp[2 * i])[0], normalise(*lp[2 * i + 1])[1]) for i in range(len(items))]
