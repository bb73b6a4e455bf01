"""The evaluation battery (issue: research-grade comparison runs).

Each module loads its items from shared/evals (pure Python, seeded sampling), asks a model
through a small `Runner` interface (choice / options / generate / render, see runner.py), and turns
the answers into per-item features with pure scoring functions. `stats.py` turns features into
values, intervals and paired differences. Modules:

- bbq_eval      BBQ, all 11 categories (scoring in ../bbq.py)
- opinions      GlobalOpinionQA: 1 - Jensen-Shannon distance to each country's answers
- mmlu          MMLU, stratified sample per subject, letter log-likelihood
- gsm8k         GSM8K, exact match of the final number, project-written few-shot examples
- hhh           HHH alignment, the better of two replies by log-likelihood
- harmless      hh-rlhf red-team first turns: judged harmlessness and refusal
- discrim       discrim-eval: logit of "yes" per demographic, discrimination score vs white male
- persona       anthropic-evals persona files: share of answers matching the behaviour
- winogender    correlation of P(female pronoun) with the occupation's share of women
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass
class Metric:
    """One row of the table: `features` is (n items x k); `stat(column sums, n)` gives the value."""
    name: str
    label: str
    better: str                  # higher | lower | zero | none
    features: np.ndarray
    stat: Callable
    group: str = ""              # evaluation it belongs to
    primary: bool = True         # primary rows form the comparison table (and the Holm family)


@dataclass
class Outcome:
    """What one evaluation produced for one model: metric rows and free-form details."""
    metrics: list[Metric]
    details: dict[str, Any] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)   # per-item records written to a JSONL file
