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
    assert (lab.chosen, lab.rejected, lab.chosen_is_a, lab.tie) == ("second", "first", False, False)
    lab = feedback.label("first", "second", 0.7, 0.3)
    assert (lab.chosen, lab.chosen_is_a) == ("first", True)
    tie = feedback.label("first", "second", 0.5, 0.5)
    assert tie.tie and tie.chosen == "first"


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
