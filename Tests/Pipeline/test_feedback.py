"""AI-feedback label normalisation, debiasing and parsing."""
import math

import pytest

from charter_pipeline import feedback, judge


def test_normalise_renormalises_over_the_two_letters():
    pa, pb = feedback.normalise(math.log(0.3), math.log(0.1))
    assert pa == pytest.approx(0.75) and pb == pytest.approx(0.25)
    assert sum(feedback.normalise(-2.0, -5.0)) == pytest.approx(1.0)


def test_normalise_is_stable_for_tiny_probabilities():
    pa, pb = feedback.normalise(-1000.0, -1001.0)
    assert pa == pytest.approx(1 / (1 + math.exp(-1)))
    assert feedback.normalise(float("-inf"), float("-inf")) == (0.5, 0.5)
    assert feedback.normalise(0.0, float("-inf")) == (1.0, 0.0)


def test_debiasing_averages_both_orders():
    # The model likes whatever is shown as (A) a lot: 0.9 for r1 as A, and r1 as B gets 0.3.
    assert feedback.debiased_first(0.9, 0.3) == pytest.approx(0.6)
    assert feedback.debiased_first(0.9, None) == 0.9
    # Pure position bias (always "A" with p) cancels to 0.5.
    assert feedback.debiased_first(0.8, 1 - 0.8) == pytest.approx(0.5)


def test_label_picks_the_more_probable_response():
    lab = feedback.label("first", "second", 0.3, 0.7)
    assert (lab.chosen, lab.rejected, lab.chosen_is_a, lab.tie, lab.keep) == ("second", "first", False, False, True)
    lab = feedback.label("first", "second", 0.7, 0.3)
    assert (lab.chosen, lab.chosen_is_a) == ("first", True)


def test_ties_near_ties_and_identical_pairs_are_dropped_not_broken_towards_a():
    tie = feedback.label("first", "second", 0.5, 0.5)
    assert tie.tie and not tie.keep and tie.reason == "near_tie"
    near = feedback.label("first", "second", 0.52, 0.48, margin=0.05)
    assert not near.keep and near.reason == "near_tie"
    assert feedback.label("first", "second", 0.53, 0.47, margin=0.05).keep
    same = feedback.label("same answer", " same answer ", 0.9, 0.1, margin=0.05)
    assert not same.keep and same.reason == "identical"


@pytest.mark.parametrize("text,letter", [
    ("(A)", "A"), ("B)", "B"), ("b", "B"), ("The answer is: (B) because", "B"), ("Option A.", "A"),
    (" (a) it is", "A"), ("Neither", None), ("", None), ("Absolutely (B)", None), ("C", None),
])
def test_parse_choice(text, letter):
    assert feedback.parse_choice(text) == letter


def test_multiple_choice_prompt_has_the_cai_shape():
    body = feedback.multiple_choice_body("Hi?", "Choose the response that is kind.", "r1", "r2")
    assert body.startswith("Consider the following conversation between a human and an assistant:\nHuman: Hi?")
    assert "Choose the response that is kind.\nOptions:\n(A) r1\n(B) r2" in body
    assert feedback.ANSWER_PREFIX == "The answer is: ("


def test_win_rates_and_ties():
    C = judge.Comparison
    comps = [C(0, "ccai", "ccai", "baseline", 0.8), C(1, "ccai", "ccai", "baseline", 0.2),
             C(2, "ccai", "ccai", "baseline", 0.5), C(0, "baseline", "ccai", "baseline", 0.1)]
    rates = judge.win_rates(comps, ["ccai", "baseline"], ["ccai", "baseline"])
    assert rates["ccai"]["ccai"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert rates["baseline"]["ccai"] == pytest.approx((0 + 1 + 0.5) / 3)
    assert rates["ccai"]["baseline"] == 0.0 and rates["baseline"]["baseline"] == 1.0
    prefs = judge.mean_preference(comps, ["ccai", "baseline"], ["ccai", "baseline"])
    assert prefs["ccai"]["ccai"] == pytest.approx(0.5)


# --- the judge: both orders, P(B) read from the swapped order, symmetric (issue 19, error 4) -----

from charter_pipeline import cai, evaluate  # noqa: E402
from charter_pipeline.constitution import Constitution, Principle  # noqa: E402


class _Tok:
    def apply_chat_template(self, messages, add_generation_prompt=True, tokenize=False):
        return "".join(m["content"] for m in messages) + "\n"


def _biased_scorer(prefer="good", position_bias=2.0):
    """log P(A), log P(B): the judge likes the answer containing `prefer` and also likes (A)."""
    def scorer(texts, _cb):
        out = []
        for t in texts:
            a = t.split("(A) ", 1)[1].split("\n(B)", 1)[0]
            la = position_bias + (1.0 if prefer in a else 0.0)
            lb = 0.0 + (1.0 if prefer not in a and prefer in t.split("(B) ", 1)[1] else 0.0)
            out.append([la, lb])
        return out
    return scorer


PARAMS = {"feedback_both_orders": False, "score_batch_size": 4, "preference_margin": 0.0}


def test_p_b_is_read_from_the_swapped_order():
    # First order: P(A)=sigmoid(3-0); swapped order shows r1 as (B): its probability is the B entry.
    pp = cai.preference_probs(None, _Tok(), [("q", "Choose.", "good", "bad")], PARAMS, both_orders=True,
                              scorer=_biased_scorer())[0]
    pa_first = 1 / (1 + math.exp(-(3.0 - 0.0)))
    pb_second = 1 / (1 + math.exp(-(1.0 - 2.0)))     # swapped: A="bad" scores 2, B="good" scores 1
    assert pp["p_a_as_a"] == pytest.approx(pa_first)
    assert pp["p_a_as_b"] == pytest.approx(pb_second)
    assert pp["p1"] == pytest.approx((pa_first + pb_second) / 2)


def _consts():
    p = [Principle("x", "c", "Choose the response that is good.", "crit", "rev")]
    return {"one": Constitution("one", 1, "", p, None, ""), "two": Constitution("two", 1, "", p, None, "")}


def test_cross_judgement_asks_both_orders_even_when_labelling_does_not():
    held = [cai.Prompt("q1", "c"), cai.Prompt("q2", "c")]
    answers = {"one": ["x", "y"], "two": ["z", "w"]}
    pure_position = lambda texts, cb: [[2.0, 0.0] for _ in texts]   # always prefers (A), nothing else
    comps, rows = evaluate.cross_judge(None, _Tok(), ["one", "two"], _consts(), answers, held, PARAMS, 1,
                                       scorer=pure_position)
    # With one order the first-listed arm would win every comparison at P = 0.88.
    assert all(c.p_x == pytest.approx(0.5) for c in comps)
    assert all(r["p_a_shown_second"] is not None for r in rows)


def test_the_judge_is_symmetric_in_the_arms():
    held = [cai.Prompt("q1", "c"), cai.Prompt("q2", "c"), cai.Prompt("q3", "c")]
    answers = {"one": ["good 1", "bad 2", "good 3"], "two": ["bad 1", "good 2", "bad 3"]}
    sc = _biased_scorer()
    c12, _ = evaluate.neutral_judge(None, _Tok(), ["one", "two"], answers, held, PARAMS, 1, scorer=sc)
    c21, _ = evaluate.neutral_judge(None, _Tok(), ["two", "one"], answers, held, PARAMS, 1, scorer=sc)
    for a, b in zip(c12, c21):
        assert a.p_x == pytest.approx(1.0 - b.p_x)
    assert [c.p_x > 0.5 for c in c12] == [True, False, True]
