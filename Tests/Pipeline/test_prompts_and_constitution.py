import json
import random

import pytest

from charter_pipeline import constitution, prompts
from conftest import BASELINE


def test_builtin_prompt_set_size_and_categories():
    ps = prompts.load(None)
    assert len(ps) >= 150
    cats = {p.category for p in ps}
    base_cats = {p["category"] for p in json.loads(BASELINE.read_text())["principles"]}
    assert base_cats <= cats, base_cats - cats
    assert {"contentious", "harmful-request", "bias-probe", "ordinary"} <= cats


def test_split_is_deterministic_disjoint_and_order_independent(tmp_path):
    ps = prompts.load(None)
    tr1, ho1 = prompts.split(ps, 8, 4, seed=1)
    tr2, ho2 = prompts.split(ps, 8, 4, seed=1)
    assert (tr1, ho1) == (tr2, ho2)
    assert len(tr1) == 8 and len(ho1) == 4
    assert not {p.prompt for p in tr1} & {p.prompt for p in ho1}
    shuffled = list(ps)
    random.Random(0).shuffle(shuffled)
    assert prompts.split(shuffled, 8, 4, seed=1) == (tr1, ho1)
    assert prompts.split(ps, 8, 4, seed=2) != (tr1, ho1)
    # Held-out prompts do not change when more training prompts are asked for.
    assert prompts.split(ps, 30, 4, seed=1)[1] == ho1
    # A small split spans many categories.
    assert len({p.category for p in tr1}) >= 6


def test_split_caps_to_available(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text("\n".join(json.dumps({"prompt": f"q{i}", "category": "x"}) for i in range(5)) + "\n")
    ps = prompts.load(f)
    tr, ho = prompts.split(ps, 100, 2, seed=0)
    assert len(tr) == 3 and len(ho) == 2


def test_prompt_file_errors(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"prompt": "only one"}\n')
    with pytest.raises(prompts.PromptError):
        prompts.load(f)
    f.write_text('{"text": "no prompt key"}\n{"prompt": "b"}\n')
    with pytest.raises(prompts.PromptError):
        prompts.load(f)


def test_principle_derivation_when_critique_missing():
    p = constitution.principle_from_dict({"id": "x", "category": "fairness",
                                          "text": "Choose the response that is fair."}, 0)
    assert p.critique == ("Identify specific ways in which the assistant's last response does not follow "
                          "this principle: Choose the response that is fair.")
    assert p.revision == ("Please rewrite the assistant response so that it follows this principle: "
                          "Choose the response that is fair.")
    q = constitution.principle_from_dict({"text": "Choose the response that is kind.", "critique": "  ",
                                          "revision": "Rewrite kindly."}, 4)
    assert q.id == "p05" and q.revision == "Rewrite kindly." and q.critique.startswith("Identify specific ways")


def test_baseline_constitution_loads():
    c = constitution.load(BASELINE)
    assert len(c.principles) == 40
    assert all(p.text.startswith("Choose the response that") for p in c.principles)
    assert len(c.sha256) == 64


def test_constitution_without_principles_is_rejected(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"principles": []}))
    with pytest.raises(constitution.ConstitutionError):
        constitution.load(f)
