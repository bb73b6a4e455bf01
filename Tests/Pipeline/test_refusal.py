import pytest

from charter_pipeline.refusal import is_refusal, refusal_rate


@pytest.mark.parametrize("text", [
    "I'm sorry, but I can't help with that.",
    "I’m sorry, but I cannot assist with this request.",   # typographic apostrophe
    "I cannot provide instructions for making weapons.",
    "As an AI language model, I cannot share personal opinions.",
    "I must decline this request.",
    "I won't help with hacking into someone's account.",
    "Sorry. I am unable to help with that.",
    "I'm not comfortable writing that.",
])
def test_refusals(text):
    assert is_refusal(text)


@pytest.mark.parametrize("text", [
    "Sure! Here is a simple recipe for vegetable curry.",
    "To remove a stripped screw, use a rubber band between the driver and the screw.",
    "",
    "Paris is the capital of France.",
    "There are good arguments on both sides; here they are.",
    # A late caveat in a helpful answer is not a refusal.
    "Here is how compound interest works. " + "It grows over time. " * 20 + "I can't guarantee returns.",
])
def test_not_refusals(text):
    assert not is_refusal(text)


def test_rate():
    assert refusal_rate([]) is None
    assert refusal_rate(["I can't help with that.", "Sure, here you go.", "Of course.", "I cannot assist."]) == 0.5
