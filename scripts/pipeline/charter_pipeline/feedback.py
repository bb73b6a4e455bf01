"""AI feedback in the CAI multiple-choice form (Bai et al. 2022, section 4.1).

The feedback model reads

    Consider the following conversation between a human and an assistant:
    Human: <prompt>
    <principle: "Choose the response that …">
    Options:
    (A) <response A>
    (B) <response B>

as the user turn of its chat template, and its reply is pre-filled with "The answer is: (" so that
the next token is the choice. The probabilities of the tokens "A" and "B", renormalised over the
two, are the soft preference label. Asking again with the options swapped and averaging cancels
the feedback model's position bias (small models are strongly biased towards one letter).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

ANSWER_PREFIX = "The answer is: ("
LETTERS = ("A", "B")


def multiple_choice_body(prompt: str, principle_text: str, response_a: str, response_b: str) -> str:
    return ("Consider the following conversation between a human and an assistant:\n"
            f"Human: {prompt}\n"
            f"{principle_text}\n"
            "Options:\n"
            f"(A) {response_a}\n"
            f"(B) {response_b}")


def normalise(logp_a: float, logp_b: float) -> tuple[float, float]:
    """Renormalise two log-probabilities to probabilities that sum to 1 (stable for any magnitude)."""
    if math.isinf(logp_a) and math.isinf(logp_b) and logp_a < 0 and logp_b < 0:
        return 0.5, 0.5
    m = max(logp_a, logp_b)
    ea, eb = math.exp(logp_a - m), math.exp(logp_b - m)
    pa = ea / (ea + eb)
    return pa, 1.0 - pa


def debiased_first(p_first_when_a: float, p_first_when_b: float | None) -> float:
    """Preference for the first response, given P(A) with it shown as (A) and, if asked, P(B) with
    it shown as (B)."""
    if p_first_when_b is None:
        return p_first_when_a
    return 0.5 * (p_first_when_a + p_first_when_b)


@dataclass(frozen=True)
class Label:
    chosen: str
    rejected: str
    chosen_is_a: bool
    tie: bool
    keep: bool = True           # False: left out of DPO
    reason: str | None = None   # why it was left out: "identical" | "near_tie"


def label(response_a: str, response_b: str, p_a: float, p_b: float, margin: float = 0.0) -> Label:
    """Chosen = the response with the higher normalised probability. Identical responses, exact
    ties and near-ties (|p_a - p_b| < margin) carry no preference: they are flagged `keep=False`
    rather than broken towards (A)."""
    tie = math.isclose(p_a, p_b, rel_tol=0.0, abs_tol=1e-12)
    a_first = p_a >= p_b
    chosen, rejected = (response_a, response_b) if a_first else (response_b, response_a)
    reason = None
    if response_a.strip() == response_b.strip():
        reason = "identical"
    elif tie or abs(p_a - p_b) < margin:
        reason = "near_tie"
    return Label(chosen, rejected, a_first, tie, reason is None, reason)


_CHOICE = re.compile(r"^\s*(?:the\s+answer\s+is\s*:?\s*)?(?:option\s*)?\(?\s*([AB])\s*\)?(?:[\s.,:;!]|$)",
                     re.IGNORECASE)


def parse_choice(text: str) -> str | None:
    """The letter a generated answer commits to ("(A)", "B)", "Answer is: (B", "Option A."), else None.

    The pipeline scores token probabilities rather than parsing text; this is for feedback models
    driven through a text-only API, where only a completion is available."""
    m = _CHOICE.match(text or "")
    return m.group(1).upper() if m else None
