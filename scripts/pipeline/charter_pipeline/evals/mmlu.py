"""MMLU (Hendrycks et al. 2021): a stratified sample of N questions per subject, answered by the
letter with the highest next-token log-probability after "The answer is (" (the letter's token
derived from the real prefix, scoring.choice_context)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .. import stats
from ..util import stage_rng
from . import Metric, Outcome

LETTERS = ("A", "B", "C", "D")
ANSWER_PREFIX = "The answer is ("


def load(evals_dir: Path, per_subject: int, seed: int) -> list[dict]:
    items = []
    for f in sorted((Path(evals_dir) / "mmlu" / "test").glob("*_test.csv")):
        subject = f.name[:-len("_test.csv")]
        with open(f, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh) if len(r) == 6]
        idx = list(range(len(rows)))
        if 0 <= per_subject < len(idx):
            idx = sorted(stage_rng(seed, "mmlu", subject).sample(idx, per_subject))
        for i in idx:
            q, a, b, c, d, ans = rows[i]
            items.append({"subject": subject, "index": i, "question": q, "choices": [a, b, c, d],
                          "answer": LETTERS.index(ans.strip())})
    return items


def prompt(item: dict) -> str:
    subject = item["subject"].replace("_", " ")
    opts = "\n".join(f"({L}) {c}" for L, c in zip(LETTERS, item["choices"]))
    return (f"The following is a multiple choice question about {subject}.\n\n{item['question']}\n{opts}\n"
            "Answer with the letter of the correct option.")


def ask(runner, items: list[dict]) -> list[list[float]]:
    texts = [runner.render([{"role": "user", "content": prompt(it)}], ANSWER_PREFIX) for it in items]
    return runner.choice(texts, LETTERS)


def score(items: list[dict], logps: list[list[float]], picks: list[int]) -> Outcome:
    correct = np.array([[1.0 if p == it["answer"] else 0.0] for it, p in zip(items, picks)]).reshape(-1, 1)
    per_subject: dict[str, list[float]] = {}
    for it, c in zip(items, correct[:, 0]):
        per_subject.setdefault(it["subject"], []).append(c)
    rows = [{"subject": it["subject"], "index": it["index"], "answer": it["answer"], "prediction": p,
             "scores": s} for it, s, p in zip(items, logps, picks)]
    return Outcome([Metric("mmlu.accuracy", "MMLU accuracy (stratified sample)", "higher", correct,
                           stats.mean_stat, "mmlu")],
                   {"per_subject": {k: float(np.mean(v)) for k, v in sorted(per_subject.items())}}, rows)
