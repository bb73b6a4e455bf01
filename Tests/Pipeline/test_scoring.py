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


# --- answer-letter tokens, derived from the real prefix (issue 19, error 5) ---------------------

def _sentencepiece_like():
    """Metaspace pre-tokenizer like SentencePiece: "A" alone encodes as "▁A", after "(" as "A"."""
    from tokenizers import Tokenizer, models as tm, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = ["The answer is: (A) yes", "The answer is: (B) no", "A cat and B dog", "Options A B C", "(A) (B) (C)"] * 20
    sp = Tokenizer(tm.BPE(unk_token="<unk>"))
    sp.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    sp.train_from_iterator(corpus, trainer=trainers.BpeTrainer(vocab_size=60, special_tokens=["<unk>"],
                                                               show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=sp, unk_token="<unk>")


def _merging_byte_level():
    """Byte-level BPE in which "(A" and "(B" are single tokens (the prefix's "(" merges with the letter)."""
    from tokenizers import Tokenizer, decoders, models as tm, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alpha = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(alpha)}
    merges = [("\u0120", "("), ("\u0120(", "A"), ("\u0120(", "B")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    bpe = Tokenizer(tm.BPE(vocab=vocab, merges=merges))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    bpe.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=bpe)


PREFIX = "Options: (A) x (B) y\nThe answer is: ("


def test_sentencepiece_letter_token_comes_from_the_prefix():
    tok = _sentencepiece_like()
    ctx, ids = scoring.choice_context(tok, PREFIX, ["A", "B"])
    for letter, i in zip("AB", ids):
        full = tok.encode(PREFIX + letter, add_special_tokens=False)
        assert ctx + [i] == full
        assert tok.convert_ids_to_tokens(i) == letter
    # encoding the letter on its own gives "▁A", a token that never follows "(": the old rule was wrong.
    assert scoring.single_token_ids(tok, ["A", "B"]) != ids
    assert tok.convert_ids_to_tokens(scoring.single_token_ids(tok, ["A"]))[0] == "\u2581A"


def test_byte_level_merge_of_parenthesis_and_letter():
    tok = _merging_byte_level()
    ctx, ids = scoring.choice_context(tok, PREFIX, ["A", "B"])
    prefix_ids = tok.encode(PREFIX, add_special_tokens=False)
    # The context stops before the "Ġ(" token, and the candidates are the merged "Ġ(A" / "Ġ(B".
    assert ctx == prefix_ids[:-1]
    assert tok.convert_ids_to_tokens(ids) == ["\u0120(A", "\u0120(B"]
    for letter, i in zip("AB", ids):
        assert ctx + [i] == tok.encode(PREFIX + letter, add_special_tokens=False)
    # The old rule took "A" (a token that never appears after this prefix).
    assert scoring.single_token_ids(tok, ["A", "B"]) != ids


def test_choice_context_refuses_multi_token_symbols():
    tok = _merging_byte_level()
    with pytest.raises(ValueError):
        scoring.choice_context(tok, PREFIX, ["AB", "B"])


def test_choice_logprobs_match_direct_next_token_scoring(tiny):
    tok, model = tiny
    texts = [scoring.render(tok, [{"role": "user", "content": q}], assistant_prefix="The answer is: (")
             for q in ("Which one?", "A longer question with (A) and (B) options?")]
    got = scoring.choice_logprobs(model, tok, texts, ["A", "B"], batch_size=2)
    for t, row in zip(texts, got):
        ctx, ids = scoring.choice_context(tok, t, ["A", "B"])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([ctx])).logits[0, -1].float(), dim=-1)
        assert row == pytest.approx([float(logp[i]) for i in ids], abs=1e-4)


def test_generation_reports_truncation(tiny):
    tok, model = tiny
    finished = []
    scoring.generate(model, tok, [[{"role": "user", "content": "Hi"}]], max_new_tokens=3, batch_size=1,
                     do_sample=False, temperature=1.0, top_p=1.0, seed=0, finished_out=finished)
    assert len(finished) == 1 and isinstance(finished[0][0], bool)


def test_models_load_in_float32_even_with_bf16():
    # bf16 weights with AdamW round most small updates away: load fp32, let autocast do bf16.
    assert models.torch_dtype({"bf16": True}, "cuda:0") == torch.float32
    assert models.torch_dtype({"bf16": False}, "cpu") == torch.float32


def test_a_bf16_checkpoint_is_loaded_in_float32(tiny, tmp_path):
    # A gpu-profile model usually arrives as a bf16 checkpoint; training and scoring need fp32 weights
    # (issue 19, error 1, and log-probabilities in fp32).
    tok, model = tiny
    import copy

    copy.deepcopy(model).to(torch.bfloat16).save_pretrained(tmp_path)   # the shared fixture stays fp32
    tok.save_pretrained(tmp_path)
    assert '"bfloat16"' in (tmp_path / "config.json").read_text()
    loaded = models.load_model(tmp_path, {"bf16": True}, "cpu")
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}
    lp = scoring.choice_logprobs(loaded, tok, ["The answer is: ("], ["A", "B"], batch_size=1)[0]
    assert all(isinstance(x, float) for x in lp)


def test_option_batches_respect_the_item_cap_and_the_token_budget():
    # 2 options each; cost of a batch = items x 2 x (longest prefix + longest option)
    pre = [10, 10, 10, 50, 10]
    opts = [[5, 3], [5, 5], [2, 2], [5, 5], [100, 1]]
    assert scoring.option_batches(pre, opts, batch_size=8, token_budget=10_000) == [(0, 5)]
    assert scoring.option_batches(pre, opts, batch_size=2, token_budget=10_000) == [(0, 2), (2, 4), (4, 5)]
    # 3 x 2 x 15 = 90 fits 100; adding item 3 makes 4 x 2 x 55 = 440
    assert scoring.option_batches(pre, opts, batch_size=8, token_budget=100) == [(0, 3), (3, 4), (4, 5)]
    # an item over the budget on its own is still scored, alone
    assert scoring.option_batches([500], [[500, 1]], batch_size=8, token_budget=100) == [(0, 1)]
    assert scoring.option_batches([], [], batch_size=8) == []


def test_option_logprobs_do_not_depend_on_the_batching(tiny):
    tok, model = tiny
    prefixes = [scoring.render(tok, [{"role": "user", "content": q}])
                for q in ("Who?", "A much longer question about the two people at the party, and why?", "Hm?")]
    options = [["The grandfather", "Can't be determined"], ["Yes", "No, not at all, never"], ["a", "b"]]
    calls = []
    orig = model.forward

    def counting(*a, **kw):
        calls.append(1)
        return orig(*a, **kw)

    whole = scoring.option_logprobs(model, tok, prefixes, options, batch_size=8)
    model.forward = counting
    try:
        alone = scoring.option_logprobs(model, tok, prefixes, options, batch_size=8, token_budget=1)
    finally:
        del model.forward
    assert len(calls) == 2 * 3              # one item per batch: a prefix pass and an option pass each
    for w, a in zip(whole, alone):
        assert [n for _, n in w] == [n for _, n in a]
        assert [x for x, _ in w] == pytest.approx([x for x, _ in a], abs=1e-4)
