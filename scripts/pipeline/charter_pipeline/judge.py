"""Cross-judgement aggregation: win rates of each arm under each arm's constitution.

For a held-out prompt, arms X and Y and a constitution C, the feedback model sees both answers
twice (X as (A), then X as (B)) under a random principle of C; P(X better) is the average of the
two normalised probabilities. X wins when it is above 0.5, loses below, ties at exactly 0.5
(counted as half a win). The win rate of X under C is its share of wins over all its pairings.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Comparison:
    prompt_index: int
    constitution: str   # arm whose constitution judged
    arm_x: str
    arm_y: str
    p_x: float          # P(arm_x's answer is better), position-debiased


def outcome(p_x: float, eps: float = 1e-9) -> float:
    """1 win, 0 loss, 0.5 tie for arm x."""
    if p_x > 0.5 + eps:
        return 1.0
    if p_x < 0.5 - eps:
        return 0.0
    return 0.5


def win_rates(comparisons: list[Comparison], arms: list[str],
              constitutions: list[str]) -> dict[str, dict[str, float | None]]:
    """{arm: {constitution: win rate}}; None where an arm has no comparison under a constitution."""
    score = {a: {c: 0.0 for c in constitutions} for a in arms}
    count = {a: {c: 0 for c in constitutions} for a in arms}
    for cmp_ in comparisons:
        o = outcome(cmp_.p_x)
        score[cmp_.arm_x][cmp_.constitution] += o
        score[cmp_.arm_y][cmp_.constitution] += 1.0 - o
        count[cmp_.arm_x][cmp_.constitution] += 1
        count[cmp_.arm_y][cmp_.constitution] += 1
    return {a: {c: (score[a][c] / count[a][c] if count[a][c] else None) for c in constitutions} for a in arms}


def mean_preference(comparisons: list[Comparison], arms: list[str],
                    constitutions: list[str]) -> dict[str, dict[str, float | None]]:
    """Average P(arm's answer is better): a softer companion to the win rate."""
    tot = {a: {c: 0.0 for c in constitutions} for a in arms}
    cnt = {a: {c: 0 for c in constitutions} for a in arms}
    for cmp_ in comparisons:
        tot[cmp_.arm_x][cmp_.constitution] += cmp_.p_x
        tot[cmp_.arm_y][cmp_.constitution] += 1.0 - cmp_.p_x
        cnt[cmp_.arm_x][cmp_.constitution] += 1
        cnt[cmp_.arm_y][cmp_.constitution] += 1
    return {a: {c: (tot[a][c] / cnt[a][c] if cnt[a][c] else None) for c in constitutions} for a in arms}
