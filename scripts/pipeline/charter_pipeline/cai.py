"""The data-generating halves of Constitutional AI: SL-CAI critiques/revisions and RL-CAI pairs."""
from __future__ import annotations

from typing import Callable

from . import feedback
from .constitution import Constitution
from .prompts import Prompt
from .scoring import generate, next_token_logprobs, render, single_token_ids
from .util import stage_rng, stage_seed


def _gen(model, tok, convs, params, seed, on_batch, *, n=1, sample=True, max_new_tokens=None):
    return generate(model, tok, convs, max_new_tokens=max_new_tokens or params["max_new_tokens"],
                    batch_size=params["gen_batch_size"], do_sample=sample, temperature=params["temperature"],
                    top_p=params["top_p"], seed=seed, num_return_sequences=n, on_batch=on_batch)


def initial_responses(model, tok, prompts: list[Prompt], params: dict, seed: int,
                      on_batch: Callable[[int], None] | None = None) -> list[str]:
    """The base model's first answer to each training prompt. The base model, prompts and seed are
    the same for every arm, so these are computed once and shared."""
    convs = [[{"role": "user", "content": p.prompt}] for p in prompts]
    return [r[0] for r in _gen(model, tok, convs, params, stage_seed(seed, "sl", "initial"), on_batch)]


def pick_principles(constitution: Constitution, n: int, seed: int, stage: str) -> list:
    rng = stage_rng(seed, stage, "principles")
    return [constitution.principles[rng.randrange(len(constitution.principles))] for _ in range(n)]


def critique_and_revise(model, tok, constitution: Constitution, prompts: list[Prompt], initial: list[str],
                        params: dict, seed: int, on_batch: Callable[[int], None] | None = None) -> list[dict]:
    """One critique/revision round per prompt, each with a randomly drawn principle, as a chat:
    user prompt -> initial answer -> critique request -> critique -> revision request -> revision."""
    principles = pick_principles(constitution, len(prompts), seed, "sl")
    convs = []
    for p, r, pr in zip(prompts, initial, principles):
        convs.append([{"role": "user", "content": p.prompt},
                      {"role": "assistant", "content": r},
                      {"role": "user", "content": pr.critique}])
    critiques = [c[0] for c in _gen(model, tok, convs, params, stage_seed(seed, "sl", "critique"), on_batch)]
    for conv, c, pr in zip(convs, critiques, principles):
        conv.extend([{"role": "assistant", "content": c}, {"role": "user", "content": pr.revision}])
    revisions = [r[0] for r in _gen(model, tok, convs, params, stage_seed(seed, "sl", "revision"), on_batch)]
    rows = []
    for p, r, pr, c, v in zip(prompts, initial, principles, critiques, revisions):
        rows.append({"prompt": p.prompt, "category": p.category, "initial": r, "principle_id": pr.id,
                     "critique_request": pr.critique, "critique": c, "revision_request": pr.revision,
                     "revision": v})
    return rows


def sample_pairs(model, tok, prompts: list[Prompt], params: dict, seed: int,
                 on_batch: Callable[[int], None] | None = None) -> list[tuple[str, str]]:
    convs = [[{"role": "user", "content": p.prompt}] for p in prompts]
    out = _gen(model, tok, convs, params, stage_seed(seed, "pairs", "samples"), on_batch, n=2)
    return [(r[0], r[1]) for r in out]


def feedback_texts(tok, prompt: str, principle_text: str, a: str, b: str) -> str:
    body = feedback.multiple_choice_body(prompt, principle_text, a, b)
    return render(tok, [{"role": "user", "content": body}], assistant_prefix=feedback.ANSWER_PREFIX)


def preference_probs(feedback_model, tok, items: list[tuple[str, str, str, str]], params: dict,
                     on_batch: Callable[[int], None] | None = None) -> list[dict]:
    """items: (prompt, principle text, response 1, response 2). Returns, per item, the
    position-debiased probability that each response is better, plus the raw per-order numbers."""
    letter_ids = single_token_ids(tok, feedback.LETTERS)
    both = params["feedback_both_orders"]
    texts = []
    for prompt, principle, r1, r2 in items:
        texts.append(feedback_texts(tok, prompt, principle, r1, r2))
        if both:
            texts.append(feedback_texts(tok, prompt, principle, r2, r1))
    per_text = (lambda n: on_batch(n // 2 if both else n)) if on_batch else None
    logps = next_token_logprobs(feedback_model, tok, texts, letter_ids, batch_size=params["score_batch_size"],
                                on_batch=per_text)
    out = []
    step = 2 if both else 1
    for i in range(len(items)):
        pa1, _ = feedback.normalise(*logps[i * step])
        _, pb2 = feedback.normalise(*logps[i * step + 1]) if both else (None, None)
        p1 = feedback.debiased_first(pa1, pb2)
        out.append({"p1": p1, "p2": 1.0 - p1, "p_a_as_a": pa1, "p_a_as_b": pb2,
                    "logp_ab": logps[i * step], "logp_ba": logps[i * step + 1] if both else None})
    return out


def label_pairs(feedback_model, tok, constitution: Constitution, prompts: list[Prompt],
                pairs: list[tuple[str, str]], params: dict, seed: int,
                on_batch: Callable[[int], None] | None = None) -> list[dict]:
    principles = pick_principles(constitution, len(prompts), seed, "pairs")
    items = [(p.prompt, pr.text, a, b) for p, pr, (a, b) in zip(prompts, principles, pairs)]
    probs = preference_probs(feedback_model, tok, items, params, on_batch)
    rows = []
    for p, pr, (a, b), pp in zip(prompts, principles, pairs, probs):
        lab = feedback.label(a, b, pp["p1"], pp["p2"])
        rows.append({"prompt": p.prompt, "category": p.category, "chosen": lab.chosen, "rejected": lab.rejected,
                     "principle_id": pr.id, "p_a": pp["p1"], "p_b": pp["p2"], "response_a": a, "response_b": b,
                     "chosen_is_a": lab.chosen_is_a, "tie": lab.tie,
                     "p_a_shown_first": pp["p_a_as_a"], "p_a_shown_second": pp["p_a_as_b"]})
    return rows
