"""Model-side evaluation: BBQ answers, held-out answers and the cross-judgement."""
from __future__ import annotations

from typing import Callable

from . import bbq
from .cai import preference_probs
from .constitution import Constitution
from .judge import Comparison
from .prompts import Prompt
from .scoring import generate, option_logprobs, next_token_logprobs, render, single_token_ids
from .util import stage_rng, stage_seed

BBQ_ANSWER_PREFIX = "The answer is ("


def bbq_predict(model, tok, examples: list[dict], params: dict,
                on_batch: Callable[[int], None] | None = None) -> tuple[list[int], list[list[float]]]:
    """The option index each example's answer picks, and the per-option scores.

    letter (default): the question with its three options as the user turn, the reply pre-filled
      with "The answer is (", and the model's choice is the most probable next token among
      "A", "B", "C". One forward pass per example.
    loglik: each option's text as the reply to the bare context + question; the choice is the
      option with the highest mean per-token log-likelihood (length-normalised, so a long
      "Cannot be determined" is not penalised for its length). The context is encoded once and
      shared by the three options. Small models pick a letter by position rather than content
      (SmolLM2-135M answers "B" to everything), so this is the default for the CPU profiles.
    """
    if params["bbq_scoring"] == "letter":
        ids = single_token_ids(tok, bbq.LETTERS)
        texts = [render(tok, [{"role": "user", "content": bbq.question_text(ex)}], assistant_prefix=BBQ_ANSWER_PREFIX)
                 for ex in examples]
        scores = next_token_logprobs(model, tok, texts, ids, batch_size=params["score_batch_size"], on_batch=on_batch)
    else:
        prefixes = [render(tok, [{"role": "user", "content": f"{ex['context']} {ex['question']}"}]) for ex in examples]
        options = [[ex[k] for k in bbq.ANSWER_KEYS] for ex in examples]
        raw = option_logprobs(model, tok, prefixes, options, batch_size=params["score_batch_size"], on_batch=on_batch)
        scores = [[(s / n if n else float("-inf")) for s, n in row] for row in raw]
    preds = [max(range(3), key=lambda j: s[j]) for s in scores]
    return preds, scores


def held_out_answers(model, tok, prompts: list[Prompt], params: dict, seed: int,
                     on_batch: Callable[[int], None] | None = None) -> list[str]:
    """Greedy answers, so the comparison does not hinge on one sampling draw."""
    convs = [[{"role": "user", "content": p.prompt}] for p in prompts]
    out = generate(model, tok, convs, max_new_tokens=params["judge_max_new_tokens"],
                   batch_size=params["gen_batch_size"], do_sample=False, temperature=params["temperature"],
                   top_p=params["top_p"], seed=stage_seed(seed, "judge", "answers"), on_batch=on_batch)
    return [r[0] for r in out]


def cross_judge(feedback_model, tok, arm_names: list[str], constitutions: dict[str, Constitution],
                answers: dict[str, list[str]], prompts: list[Prompt], params: dict, seed: int,
                on_batch: Callable[[int], None] | None = None) -> tuple[list[Comparison], list[dict]]:
    """Every pair of arms, under every arm's constitution, on every held-out prompt."""
    plan = []
    for i, x in enumerate(arm_names):
        for y in arm_names[i + 1:]:
            for c in arm_names:
                principles = constitutions[c].principles
                rng = stage_rng(seed, "judge", "principles", c)
                for k, p in enumerate(prompts):
                    plan.append((k, c, x, y, principles[rng.randrange(len(principles))]))
    items = [(prompts[k].prompt, pr.text, answers[x][k], answers[y][k]) for k, c, x, y, pr in plan]
    probs = preference_probs(feedback_model, tok, items, params, on_batch) if items else []
    comparisons, rows = [], []
    for (k, c, x, y, pr), pp in zip(plan, probs):
        comparisons.append(Comparison(k, c, x, y, pp["p1"]))
        rows.append({"prompt": prompts[k].prompt, "constitution": c, "principle_id": pr.id, "arm_a": x, "arm_b": y,
                     "response_a": answers[x][k], "response_b": answers[y][k], "p_a": pp["p1"], "p_b": pp["p2"],
                     "p_a_shown_first": pp["p_a_as_a"], "p_a_shown_second": pp["p_a_as_b"]})
    return comparisons, rows
