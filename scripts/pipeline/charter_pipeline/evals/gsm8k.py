"""GSM8K (Cobbe et al. 2021): exact match of the final number. The few-shot worked examples are
the project's own, written for this pipeline (never drawn from GSM8K), in the `#### <answer>`
form the data uses."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from .. import stats
from ..util import stage_rng
from . import Metric, Outcome

# Written for Charter; not from GSM8K's train or test split.
FEW_SHOT = [
    ("A baker fills 7 trays with 12 rolls each and sells all but 9 rolls. How many rolls does she sell?",
     "She bakes 7 * 12 = 84 rolls. She sells 84 - 9 = 75 rolls.\n#### 75"),
    ("A cyclist rides 18 km on Monday and twice as far on Tuesday. How many km does he ride in the two days?",
     "On Tuesday he rides 2 * 18 = 36 km. In total he rides 18 + 36 = 54 km.\n#### 54"),
    ("A class of 30 pupils splits into teams of 4, and the pupils left over help the teacher. "
     "How many pupils help the teacher?",
     "30 / 4 = 7 teams with 7 * 4 = 28 pupils. 30 - 28 = 2 pupils help the teacher.\n#### 2"),
]
INSTRUCTION = "Solve the problem. Show your working briefly and end with a line '#### <number>'."

_ANSWER = re.compile(r"####\s*(-?[\d,]*\.?\d+)")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def normalise_number(s: str) -> str | None:
    s = s.replace(",", "").strip().rstrip(".")
    try:
        v = float(s)
    except ValueError:
        return None
    return str(int(v)) if v == int(v) else repr(v)


def extract_answer(text: str) -> str | None:
    """The number after '####' if the text has one, else the last number in it."""
    m = _ANSWER.findall(text or "")
    if m:
        return normalise_number(m[-1])
    nums = _NUMBER.findall(text or "")
    return normalise_number(nums[-1]) if nums else None


def reference_answer(solution: str) -> str:
    return normalise_number(solution.split("####")[-1])


def is_correct(generated: str, solution: str) -> bool:
    got = extract_answer(generated)
    return got is not None and got == reference_answer(solution)


def load(evals_dir: Path, n: int, seed: int) -> list[dict]:
    rows = [json.loads(x) for x in (Path(evals_dir) / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines()
            if x.strip()]
    idx = list(range(len(rows)))
    if 0 <= n < len(idx):
        idx = sorted(stage_rng(seed, "gsm8k").sample(idx, n))
    return [{"index": i, "question": rows[i]["question"], "answer": rows[i]["answer"]} for i in idx]


def conversation(question: str) -> list[dict]:
    conv = []
    for q, a in FEW_SHOT:
        conv += [{"role": "user", "content": f"{INSTRUCTION}\n\n{q}"}, {"role": "assistant", "content": a}]
    return conv + [{"role": "user", "content": f"{INSTRUCTION}\n\n{question}"}]


def score(items: list[dict], outputs: list[str]) -> Outcome:
    correct = np.array([1.0 if is_correct(o, it["answer"]) else 0.0 for it, o in zip(items, outputs)]).reshape(-1, 1)
    rows = [{"index": it["index"], "reference": reference_answer(it["answer"]), "extracted": extract_answer(o),
             "output": o, "correct": bool(c)} for it, o, c in zip(items, outputs, correct[:, 0])]
    return Outcome([Metric("gsm8k.accuracy", "GSM8K exact match (few-shot, project-written examples)", "higher",
                           correct, stats.mean_stat, "gsm8k")], {}, rows)
