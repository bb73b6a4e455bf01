"""The arms differ by their constitution only: request rule, seeds, replicates (issue 19)."""
import json
from types import SimpleNamespace

import pytest

from charter_pipeline import cai, constitution, profiles, prompts
from charter_pipeline.constitution import CRITIQUE_TEMPLATE, REVISION_TEMPLATE
from conftest import BASELINE

COLLECTIVE = {"name": "c", "principles": [{"id": "c1", "text": "Choose the response that is fair to everyone."},
                                          {"id": "c2", "text": "Choose the response that is honest."}]}


def _load(tmp_path, data, name):
    f = tmp_path / f"{name}.json"
    f.write_text(json.dumps(data))
    return constitution.load(f)


def test_template_rule_ignores_hand_written_requests():
    base = constitution.load(BASELINE)
    assert any(p.critique != CRITIQUE_TEMPLATE.format(text=p.text) for p in base.principles), \
        "the baseline has hand-written requests (this test needs them)"
    for p in base.principles:
        assert cai.sl_requests(p, "template") == (CRITIQUE_TEMPLATE.format(text=p.text),
                                                  REVISION_TEMPLATE.format(text=p.text))
        assert cai.sl_requests(p, "constitution") == (p.critique, p.revision)
    assert profiles.defaults("gpu")["sl_requests"] == "template"


def test_swapping_the_constitutions_swaps_the_arms_inputs_and_nothing_else(tmp_path):
    base = constitution.load(BASELINE)
    coll = _load(tmp_path, COLLECTIVE, "coll")
    ps = prompts.load(None)
    train, _ = prompts.split(ps, 8, 4, seed=3)
    initial = [f"initial {i}" for i in range(len(train))]
    arm_x_with_coll = cai.sl_plan(coll, train, initial, 3, "template")
    arm_y_with_base = cai.sl_plan(base, train, initial, 3, "template")
    # swapped: arm x now gets the baseline, arm y the collective constitution
    arm_x_with_base = cai.sl_plan(base, train, initial, 3, "template")
    arm_y_with_coll = cai.sl_plan(coll, train, initial, 3, "template")
    assert arm_x_with_coll == arm_y_with_coll and arm_y_with_base == arm_x_with_base
    # Between the two constitutions, only the principle and the requests built from it differ.
    for a, b in zip(arm_x_with_coll, arm_y_with_base):
        assert {k for k in a if a[k] != b[k]} <= {"principle_id", "critique_request", "revision_request"}
        assert a["critique_request"].startswith(CRITIQUE_TEMPLATE.split("{")[0])
        assert b["critique_request"].startswith(CRITIQUE_TEMPLATE.split("{")[0])


def test_critique_and_revise_uses_the_rule_and_counts_cleaning_and_truncation(tmp_path):
    base = constitution.load(BASELINE)
    train = [prompts.Prompt("How do I boil an egg?", "ordinary"), prompts.Prompt("Tell me a joke.", "ordinary")]
    seen = []

    def fake_gen(model, tok, convs, params, seed, on_batch, finished_out=None, **kw):
        seen.append([c[-1]["content"] for c in convs])
        if finished_out is not None:   # the revision call
            finished_out.extend([[True], [False]])
            return [["Here is a revised response: Boil it for 8 minutes."], ["A joke that was cut"]]
        return [["critique"] for _ in convs]

    params = dict(profiles.defaults("smoke"), sl_requests="template")
    rows = cai.critique_and_revise(None, None, base, train, ["a", "b"], params, 1, gen=fake_gen)
    assert all(x.startswith("Identify specific ways") for x in seen[0])
    assert all(x.startswith("Please rewrite the assistant response") for x in seen[1])
    assert rows[0]["revision"] == "Boil it for 8 minutes." and rows[0]["cleaned"] and not rows[0]["truncated"]
    assert rows[1]["truncated"] and not rows[1]["cleaned"]


@pytest.mark.parametrize("text,clean", [
    ("Here is a revised response: Be kind.", "Be kind."),
    ("Sure, here's a rewritten version of the response: \"Be kind.\"", "Be kind."),
    ("Revised response: ok", "ok"),
    ("Be kind, here is why: it helps.", "Be kind, here is why: it helps."),
    ("Here are some tips: drink water.", "Here are some tips: drink water."),
])
def test_clean_revision(text, clean):
    assert cai.clean_revision(text)[0] == clean


def _manifest(kind_second="baseline", **params):
    arms = [SimpleNamespace(name="ccai", constitution_meta={"kind": "collective"}),
            SimpleNamespace(name="other", constitution_meta={"kind": kind_second})]
    return SimpleNamespace(seed=1234, arms=arms, parameters=profiles.resolve("smoke", params))


def test_replicates_use_the_same_training_seeds_in_every_arm():
    from charter_pipeline import main

    seeds = main.training_seeds(_manifest(replicates=3))
    assert seeds["ccai"] == seeds["other"] and len(set(seeds["ccai"])) == 3
    assert seeds["ccai"][0] == 1234   # replicate 0 keeps the run seed


def test_baseline_seed_offset_shifts_the_baseline_arm_only():
    from charter_pipeline import main

    m = _manifest(replicates=2, baseline_seed_offset=2)
    seeds = main.training_seeds(m)
    assert main.baseline_arm(m) == "other"
    assert seeds["ccai"] == main.training_seeds(_manifest(replicates=2))["ccai"]
    assert not set(seeds["ccai"]) & set(seeds["other"])
    # without a kind, the arm named baseline, else the last arm
    assert main.baseline_arm(_manifest(kind_second="")) == "other"


def test_new_parameters_are_validated():
    for bad in ({"replicates": 0}, {"baseline_seed_offset": -1}, {"num_processes": 0}, {"sl_requests": "mine"},
                {"preference_margin": 1.5}, {"mmlu_per_subject": -2}):
        with pytest.raises(profiles.ParameterError):
            profiles.resolve("smoke", bad)
    p = profiles.resolve("small", {"replicates": 3, "num_processes": 2, "judge_model_path": None})
    assert p["replicates"] == 3 and p["num_processes"] == 2 and p["baseline_seed_offset"] == 0


def test_held_out_split_keeps_a_harmful_request():
    ps = prompts.load(None)
    assert any(p.harmful for p in ps) and not all(p.harmful for p in ps)
    for seed in range(20):
        _, held = prompts.split(ps, 6, 4, seed)
        assert any(p.harmful for p in held) and any(not p.harmful for p in held)


def test_profiles_evaluation_sizes():
    from charter_pipeline.profiles import EVAL_SIZES

    gpu, small, smoke = (profiles.defaults(p) for p in ("gpu", "small", "smoke"))
    assert all(gpu[k] == -1 for k in EVAL_SIZES + ("bbq_per_stratum",))          # gpu: every set whole
    for p in (small, smoke):                                                     # CPU profiles: a sample
        assert all(0 < p[k] <= 60 for k in EVAL_SIZES) and p["bbq_per_stratum"] == 1
    # small: enough items in every evaluation for its rows to be tested (MMLU: 1 x 57 subjects)
    from charter_pipeline.report import MIN_TEST_N

    assert all(small[k] >= MIN_TEST_N for k in EVAL_SIZES if k != "mmlu_per_subject")
