"""Batched, padded scoring must agree with scoring one unpadded sequence at a time.

Uses the smoke profile's tiny model, built into a private cache (a few seconds).
"""
import pytest

torch = pytest.importorskip("torch")

from charter_pipeline import models, prompts, scoring


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import os

    os.environ["CHARTER_PIPELINE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    try:
        import transformers

        transformers.utils.logging.disable_progress_bar()
        torch.set_num_threads(1)
        base = models.build_tiny([p.prompt for p in prompts.load(None)], lambda *_: None)
        tok = models.load_tokenizer(base.path)
        model = models.load_model(base.path, {"bf16": False}, "cpu")
        model.eval()
        return tok, model
    finally:
        del os.environ["CHARTER_PIPELINE_CACHE"]


def _ref_logprob(model, ids: list[int], start: int) -> float:
    x = torch.tensor([ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=x).logits[0].float(), dim=-1)
    return float(sum(logp[t - 1, ids[t]] for t in range(start, len(ids))))


def test_tiny_model_round_trips_through_from_pretrained(tiny):
    tok, model = tiny
    assert tok.eos_token == "<|im_end|>" and tok.pad_token is not None
    text = scoring.render(tok, [{"role": "user", "content": "Hello there"}])
    assert text.endswith("<|im_start|>assistant\n")
    assert model.config.num_hidden_layers == 2


def test_option_logprobs_match_unbatched_reference(tiny):
    tok, model = tiny
    prefixes = [scoring.render(tok, [{"role": "user", "content": q}])
                for q in ("Who was forgetful?", "A much longer question about the two people at the party?")]
    options = [["The grandfather", "The grandson", "Can't be determined"],
               ["The British friend", "Japanese", "Not enough information"]]
    got = scoring.option_logprobs(model, tok, prefixes, options, batch_size=2)
    for pre, opts, row in zip(prefixes, options, got):
        p_ids = tok.encode(pre, add_special_tokens=False)
        for o, (lp, n) in zip(opts, row):
            o_ids = tok.encode(o, add_special_tokens=False)
            assert n == len(o_ids)
            assert lp == pytest.approx(_ref_logprob(model, p_ids + o_ids, len(p_ids)), abs=1e-3)


def test_next_token_logprobs_ignore_left_padding(tiny):
    tok, model = tiny
    texts = ["short (", "a considerably longer text before the parenthesis ("]
    ids = scoring.single_token_ids(tok, ["A", "B"])
    batched = scoring.next_token_logprobs(model, tok, texts, ids, batch_size=2)
    for t, row in zip(texts, batched):
        single = scoring.next_token_logprobs(model, tok, [t], ids, batch_size=1)[0]
        assert row == pytest.approx(single, abs=1e-4)


def test_generation_is_seeded(tiny):
    tok, model = tiny
    conv = [[{"role": "user", "content": "Say something."}]] * 2
    kw = dict(max_new_tokens=6, batch_size=2, do_sample=True, temperature=1.0, top_p=1.0)
    a = scoring.generate(model, tok, conv, seed=3, **kw)
    b = scoring.generate(model, tok, conv, seed=3, **kw)
    assert a == b and len(a) == 2 and len(a[0]) == 1
