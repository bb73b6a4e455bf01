"""Uncertainty: bootstrap intervals, paired bootstrap differences and the Holm correction.

A metric is computed from per-item features: `features` is an (n items x k) array and `stat`
maps column sums (a length-k vector, or a (B x k) matrix of B bootstrap replicates) and the item
count to the metric's value. Means, ratios of counts (BBQ's bias score), per-group means and
Pearson correlations (from sums of x, y, x², y², xy) are all such functions, so a bootstrap
replicate is a weighted column sum: resampling n items with replacement is multinomial weights.

Replicates (training seeds): a model's metric is the mean over its replicates. A bootstrap draw
resamples the items (one draw shared by every model, which pairs the comparison) and the
replicates (with replacement, the same replicate indices for both arms, since replicate j of
every arm has the same training seed); the interval thus combines item and seed variance.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

Stat = Callable[[np.ndarray, int], np.ndarray]


def mean_stat(S, n):
    """Mean of feature 0."""
    S = np.asarray(S, dtype=float)
    return S[..., 0] / n


def ratio_stat(S, n):
    """Feature 0 / feature 1 (e.g. a rate over the items where it is defined); NaN when 0/0."""
    S = np.asarray(S, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(S[..., 1] > 0, S[..., 0] / np.where(S[..., 1] > 0, S[..., 1], 1), np.nan)


def pearson_stat(S, n):
    """Pearson r from column sums of [x, y, x², y², xy, 1] (weights may differ from n)."""
    S = np.asarray(S, dtype=float)
    w = S[..., 5]
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = S[..., 0] / w, S[..., 1] / w
        vx = S[..., 2] / w - mx * mx
        vy = S[..., 3] / w - my * my
        cov = S[..., 4] / w - mx * my
        r = cov / np.sqrt(vx * vy)
    return np.where((vx > 1e-15) & (vy > 1e-15), r, np.nan)


def pearson_features(x: Sequence[float], y: Sequence[float]) -> np.ndarray:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return np.stack([x, y, x * x, y * y, x * y, np.ones_like(x)], axis=1)


def _weights(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    return rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(float)


@dataclass
class Estimate:
    value: float | None
    n: int
    ci95: list[float] | None
    replicates: list[float | None]


def _clean(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _percentile(vals: np.ndarray) -> list[float] | None:
    vals = vals[np.isfinite(vals)]
    if vals.size < 10:
        return None
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return [float(lo), float(hi)]


class Bootstrap:
    """One shared resampling plan for all the models compared on one evaluation's items."""

    def __init__(self, n_items: int, n_replicates: int, samples: int, seed: int):
        self.n, self.r, self.b = n_items, n_replicates, samples
        rng = np.random.default_rng(seed)
        self.w = _weights(rng, n_items, samples) if n_items > 0 else np.zeros((samples, 0))
        self.rep = rng.integers(0, max(n_replicates, 1), size=(samples, max(n_replicates, 1)))

    def _draws(self, reps: Sequence[np.ndarray], stat: Stat, shared_reps: bool = True) -> np.ndarray:
        per_rep = np.stack([stat(self.w @ f, self.n) for f in reps], axis=0)   # R x B
        if len(reps) == 1:
            return per_rep[0]
        idx = self.rep[:, :len(reps)] % len(reps)                              # B x R
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN draws stay NaN and are dropped
            return np.nanmean(np.take_along_axis(per_rep.T, idx, axis=1), axis=1)

    def estimate(self, reps: Sequence[np.ndarray], stat: Stat) -> Estimate:
        if self.n == 0:
            return Estimate(None, 0, None, [None] * len(reps))
        points = [_clean(stat(f.sum(axis=0), self.n)) for f in reps]
        finite = [p for p in points if p is not None]
        value = float(np.mean(finite)) if finite else None
        ci = _percentile(self._draws(reps, stat)) if value is not None else None
        return Estimate(value, self.n, ci, points)

    def difference(self, reps_x: Sequence[np.ndarray], reps_y: Sequence[np.ndarray], stat: Stat) -> dict:
        """x - y, paired over items (the same resampled items for both) and over replicate
        indices. p is the two-sided bootstrap p-value of "no difference"."""
        ex, ey = self.estimate(reps_x, stat), self.estimate(reps_y, stat)
        if ex.value is None or ey.value is None:
            return {"difference": None, "difference_ci95": None, "p_value": None, "n": self.n}
        d = self._draws(reps_x, stat) - self._draws(reps_y, stat)
        d = d[np.isfinite(d)]
        diff = ex.value - ey.value
        if d.size < 10:
            return {"difference": diff, "difference_ci95": None, "p_value": None, "n": self.n}
        lo, hi = np.percentile(d, [2.5, 97.5])
        if np.all(d == 0):
            p = 1.0
        else:
            p = min(1.0, 2.0 * min(np.mean(d <= 0), np.mean(d >= 0)))
            p = max(p, 1.0 / d.size)  # a bootstrap cannot resolve smaller p-values
        return {"difference": diff, "difference_ci95": [float(lo), float(hi)], "p_value": float(p), "n": self.n}


def holm(p_values: Sequence[float | None], alpha: float = 0.05) -> tuple[list[float | None], list[bool]]:
    """Holm–Bonferroni: adjusted p-values and rejections, controlling the family-wise error rate
    at alpha over the rows that have a p-value (None rows are never significant)."""
    idx = [i for i, p in enumerate(p_values) if p is not None]
    m = len(idx)
    adjusted: list[float | None] = [None] * len(p_values)
    reject = [False] * len(p_values)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    for i in idx:
        reject[i] = adjusted[i] <= alpha
    return adjusted, reject
