"""The data-generating halves of Constitutional AI: SL-CAI critiques/revisions and RL-CAI pairs."""
from __future__ import annotations

from typing import Callable

import re

from . import feedback
from .constitution import CRITIQUE_TEMPLATE, REVISION_TEMPLATE, Constitution, Principle
from .prompts import Prompt
from .scoring import choice_logprobs, generate, render
from .util import stage_rng, stage_seed

REQUEST_RULES = {
    "template": "every principle's critique and revision requests are the CAI paper's generic requests "
                "built from its text (CRITIQUE_TEMPLATE / REVISION_TEMPLATE), in both arms",
    "constitution": "hand-written critique/revision requests where the constitution has them, the template "
                    "otherwise (arms may then differ in prompt writing as well as in values)",
}


def sl_requests(principle: Principle, rule: str) -> tuple[str, str]:
    """(critique request, revision request) for a principle under the run's request rule."""
    if rule == "template":
        return CRITIQUE_TEMPLATE.format(text=principle.text), REVISION_TEMPLATE.format(text=principle.text)
    if rule == "constitution":
        return principle.critique, principle.revision
    raise ValueError(f"unknown request rule {rule!r}")


_PREAMBLE = re.compile(
    r"^\s*(?:(?:sure|okay|ok|certainly|of course)[,!.]?\s*)?"
    r"(?:here(?:'s| is| are)\s+(?:a|an|the|my)?\s*(?:revised|rewritten|improved|updated|new|better)?\s*"
    r"(?:version|response|answer|revision|rewrite)?(?:\s+of\s+the\s+(?:response|answer))?\s*[:.]"
    r"|(?:revised|rewritten|improved|updated|new)\s+(?:response|answer|version)\s*:"
    r"|revision\s*:)\s*",
    re.IGNORECASE)


def clean_revision(text: str) -> tuple[str, bool]:
    """Strip a leading "Here is a revised response:"-style preamble (and quotes around what
    follows). Returns (clean text, whether anything was removed)."""
    t = (text or "").replace("\u2019", "'")
    m = _PREAMBLE.match(t)
    if not m or not t[m.end():].strip():
        return text.strip(), False
    rest = t[m.end():].strip()
    if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "\"'":
        rest = rest[1:-1].strip()
    return rest, True


def _gen(model, tok, convs, params, seed, on_batch, *, n=1, sample=True, max_new_tokens=None, finished_out=None):
    return generate(model, tok, convs, max_new_tokens=max_new_tokens or params["max_new_tokens"],
                    batch_size=params["gen_batch_size"], do_sample=sample, temperature=params["temperature"],
                    top_p=params["top_p"], seed=seed, num_return_sequences=n, on_batch=on_batch,
                    finished_out=finished_out)


def initial_responses(model, tok, prompts: list[Prompt], params: dict, seed: int,
                      on_batch: Callable[[int], None] | None = None, gen=None) -> list[str]:
    """The base model's first answer to each training prompt. The base model, prompts and seed are
    the same for every arm, so these are computed once and shared."""
    gen = gen or _gen
    convs = [[{"role": "user", "content": p.prompt}] for p in prompts]
    return [r[0] for r in gen(model, tok, convs, params, stage_seed(seed, "sl", "initial"), on_batch)]


def pick_principles(constitution: Constitution, n: int, seed: int, stage: str) -> list:
    rng = stage_rng(seed, stage, "principles")
    return [constitution.principles[rng.randrange(len(constitution.principles))] for _ in range(n)]


def sl_plan(constitution: Constitution, prompts: list[Prompt], initial: list[str], seed: int,
            rule: str) -> list[dict]:
    """Everything the arm's SL-CAI stage feeds the model, before any generation: per prompt the
    principle and the critique and revision requests. Depends on the constitution, the prompts,
    the seed and the rule only (never on the arm's name or position)."""
    principles = pick_principles(constitution, len(prompts), seed, "sl")
    plan = []
    for p, r, pr in zip(prompts, initial, principles):
        crit, rev = sl_requests(pr, rule)
        plan.append({"prompt": p.prompt, "category": p.category, "initial": r, "principle_id": pr.id,
                     "critique_request": crit, "revision_request": rev})
    return plan


def critique_and_revise(model, tok, constitution: Constitution, prompts: list[Prompt], initial: list[str],
                        params: dict, seed: int, on_batch: Callable[[int], None] | None = None,
                        gen=None) -> list[dict]:
    """One critique/revision round per prompt, each with a randomly drawn principle, as a chat:
    user prompt -> initial answer -> critique request -> critique -> revision request -> revision.
    Revisions are cleaned of preambles; `truncated` marks those cut at max_new_tokens."""
    gen = gen or _gen
    plan = sl_plan(constitution, prompts, initial, seed, params["sl_requests"])
    convs = [[{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["initial"]},
              {"role": "user", "content": r["critique_request"]}] for r in plan]
    critiques = [c[0] for c in gen(model, tok, convs, params, stage_seed(seed, "sl", "critique"), on_batch)]
    for conv, c, r in zip(convs, critiques, plan):
        conv.extend([{"role": "assistant", "content": c}, {"role": "user", "content": r["revision_request"]}])
    finished: list = []
    revisions = [r[0] for r in gen(model, tok, convs, params, stage_seed(seed, "sl", "revision"), on_batch,
                                   finished_out=finished)]
    rows = []
    for i, (r, c, v) in enumerate(zip(plan, critiques, revisions)):
        clean, cleaned = clean_revision(v)
        rows.append({**r, "critique": c, "revision": clean, "revision_raw": v, "cleaned": cleaned,
                     "truncated": not finished[i][0] if i < len(finished) else False})
    return rows


def sample_pairs(model, tok, prompts: list[Prompt], params: dict, seed: int,
                 on_batch: Callable[[int], None] | None = None, gen=None) -> list[tuple[str, str]]:
    gen = gen or _gen
    convs = [[{"role": "user", "content": p.prompt}] for p in prompts]
    out = gen(model, tok, convs, params, stage_seed(seed, "pairs", "samples"), on_batch, n=2)
    return [(r[0], r[1]) for r in out]


def feedback_texts(tok, prompt: str, principle_text: str, a: str, b: str) -> str:
    body = feedback.multiple_choice_body(prompt, principle_text, a, b)
    return render(tok, [{"role": "user", "content": body}], assistant_prefix=feedback.ANSWER_PREFIX)


def preference_probs(feedback_model, tok, items: list[tuple[str, str, str, str]], params: dict,
                     on_batch: Callable[[int], None] | None = None, both_orders: bool | None = None,
                     scorer=None) -> list[dict]:
    """items: (prompt, principle text, response 1, response 2). Returns, per item, the
    position-debiased probability that each response is better, plus the raw per-order numbers:
    P(A) with response 1 shown as (A), and P(B) with response 1 shown as (B) (the swapped order)."""
    scorer = scorer or (lambda texts, cb: choice_logprobs(feedback_model, tok, texts, feedback.LETTERS,
                                                         batch_size=params["score_batch_size"], on_batch=cb))
    both = params["feedback_both_orders"] if both_orders is None else both_orders
    texts = []
    for prompt, principle, r1, r2 in items:
        texts.append(feedback_texts(tok, prompt, principle, r1, r2))
        if both:
            texts.append(feedback_texts(tok, prompt, principle, r2, r1))
    per_text = (lambda n: on_batch(n // 2 if both else n)) if on_batch else None
    logps = scorer(texts, per_text) if texts else []
    out = []
    step = 2 if both else 1
    for i in range(len(items)):
        pa1, _ = feedback.normalise(*logps[i * step])
        # In the swapped order response 1 is option (B): its probability is the B entry.
        pb2 = feedback.normalise(*logps[i * step + 1])[1] if both else None
        p1 = feedback.debiased_first(pa1, pb2)
        out.append({"p1": p1, "p2": 1.0 - p1, "p_a_as_a": pa1, "p_a_as_b": pb2,
                    "logp_ab": logps[i * step], "logp_ba": logps[i * step + 1] if both else None})
    return out


def label_pairs(feedback_model, tok, constitution: Constitution, prompts: list[Prompt],
                pairs: list[tuple[str, str]], params: dict, seed: int,
                on_batch: Callable[[int], None] | None = None, scorer=None) -> list[dict]:
    principles = pick_principles(constitution, len(prompts), seed, "pairs")
    items = [(p.prompt, pr.text, a, b) for p, pr, (a, b) in zip(prompts, principles, pairs)]
    probs = preference_probs(feedback_model, tok, items, params, on_batch, scorer=scorer)
    rows = []
    for p, pr, (a, b), pp in zip(prompts, principles, pairs, probs):
        lab = feedback.label(a, b, pp["p1"], pp["p2"], params["preference_margin"])
        rows.append({"prompt": p.prompt, "category": p.category, "chosen": lab.chosen, "rejected": lab.rejected,
                     "principle_id": pr.id, "p_a": pp["p1"], "p_b": pp["p2"], "response_a": a, "response_b": b,
                     "chosen_is_a": lab.chosen_is_a, "tie": lab.tie, "used": lab.keep, "drop_reason": lab.reason,
                     "p_a_shown_first": pp["p_a_as_a"], "p_a_shown_second": pp["p_a_as_b"]})
    return rows
