"""Model-side primitives: chat rendering, batched generation, next-token and continuation scoring."""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from .util import argmax_seeded  # noqa: F401  (re-exported)

Messages = list[dict[str, str]]


def render(tok, messages: Messages, add_generation_prompt: bool = True, assistant_prefix: str = "") -> str:
    text = tok.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=False)
    return text + assistant_prefix


def _encode(tok, texts: Sequence[str], side: str, max_length: int | None = None):
    # The chat template already wrote any BOS/special tokens, so the tokenizer must not add more.
    old_pad, old_trunc = tok.padding_side, tok.truncation_side
    tok.padding_side = side
    tok.truncation_side = "left"  # keep the end of an over-long context, where the question is
    try:
        return tok(list(texts), return_tensors="pt", padding=True, add_special_tokens=False,
                   truncation=max_length is not None, max_length=max_length)
    finally:
        tok.padding_side, tok.truncation_side = old_pad, old_trunc


def _context_limit(model, tok, reserve: int) -> int | None:
    n = getattr(model.config, "max_position_embeddings", None) or getattr(tok, "model_max_length", None)
    if not n or n > 1_000_000:
        return None
    return max(8, int(n) - reserve)


@torch.no_grad()
def generate(model, tok, conversations: Sequence[Messages], *, max_new_tokens: int, batch_size: int,
             do_sample: bool, temperature: float, top_p: float, seed: int, num_return_sequences: int = 1,
             on_batch: Callable[[int], None] | None = None,
             finished_out: list | None = None) -> list[list[str]]:
    """One list of `num_return_sequences` completions per conversation. If `finished_out` is a
    list, one list of booleans per conversation is appended to it: whether each completion ended
    its turn (end-of-sequence token) rather than being cut at max_new_tokens."""
    was_training = model.training
    model.eval()
    torch.manual_seed(seed)
    device = next(model.parameters()).device
    limit = _context_limit(model, tok, max_new_tokens)
    eos = tok.eos_token_id
    out: list[list[str]] = []
    try:
        for start in range(0, len(conversations), batch_size):
            batch = conversations[start:start + batch_size]
            texts = [render(tok, m) for m in batch]
            enc = _encode(tok, texts, "left", limit).to(device)
            kwargs = dict(max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id, eos_token_id=eos,
                          num_return_sequences=num_return_sequences)
            if do_sample:
                kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            seqs = model.generate(**enc, **kwargs)
            new = seqs[:, enc["input_ids"].shape[1]:]
            decoded = tok.batch_decode(new, skip_special_tokens=True)
            ended = (new == eos).any(dim=1).tolist() if eos is not None else [False] * len(decoded)
            for i in range(len(batch)):
                sl = slice(i * num_return_sequences, (i + 1) * num_return_sequences)
                out.append([d.strip() for d in decoded[sl]])
                if finished_out is not None:
                    finished_out.append([bool(x) for x in ended[sl]])
            if on_batch:
                on_batch(len(batch))
    finally:
        model.train(was_training)
    return out


def _positions(mask):
    # With left padding, real tokens must still be numbered 0, 1, 2, … (as generate() does);
    # a plain forward call would number the padding instead.
    return (mask.long().cumsum(dim=1) - 1).clamp(min=0)


def single_token_ids(tok, symbols: Sequence[str]) -> list[int]:
    """Token id of each symbol encoded on its own. Right only where the symbol is its own token
    after the real prefix (e.g. SmolLM2 after "Ġ("); use `choice_context` for scoring."""
    ids = []
    for s in symbols:
        enc = tok.encode(s, add_special_tokens=False)
        if not enc:
            raise ValueError(f"tokenizer cannot encode {s!r}")
        ids.append(enc[0])
    if len(set(ids)) != len(ids):
        raise ValueError(f"answer symbols {symbols} do not map to distinct tokens")
    return ids


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def choice_context(tok, text: str, symbols: Sequence[str]) -> tuple[list[int], list[int]]:
    """The context token ids and, per symbol, the one token that continues it into text + symbol.

    Derived by encoding the real prefix and prefix + symbol, so it is right for SentencePiece
    tokenizers (where "A" on its own encodes as "▁A" but after "(" as "A") and for tokenizers
    that merge the prefix's last characters with the letter into one token (e.g. "(A"): then the
    context ends before the merged token and the candidates are the merged tokens. Raises
    ValueError if a symbol needs more than one token or two symbols share a token."""
    base = tok.encode(text, add_special_tokens=False)
    ctx_len, ids = None, []
    for s in symbols:
        full = tok.encode(text + s, add_special_tokens=False)
        c = _common_prefix(base, full)
        if len(full) != c + 1:
            raise ValueError(f"{s!r} after {text[-20:]!r} is {len(full) - c} tokens, not one")
        if ctx_len is not None and c != ctx_len:
            raise ValueError(f"answer symbols {list(symbols)} change the prefix's tokens differently")
        ctx_len = c
        ids.append(full[c])
    if len(set(ids)) != len(ids):
        raise ValueError(f"answer symbols {list(symbols)} do not map to distinct tokens")
    return base[:ctx_len], ids


def _pad_left(rows: Sequence[Sequence[int]], pad: int, device):
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r):] = torch.tensor(list(r), dtype=torch.long)
            mask[i, width - len(r):] = 1
    return ids.to(device), mask.to(device)


@torch.no_grad()
def next_token_logprobs_ids(model, tok, contexts: Sequence[Sequence[int]], candidates: Sequence[Sequence[int]], *,
                            batch_size: int, on_batch: Callable[[int], None] | None = None) -> list[list[float]]:
    """log P(candidate token | context) per context, from the full next-token distribution, in fp32."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    limit = _context_limit(model, tok, 1)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    out: list[list[float]] = []
    try:
        for start in range(0, len(contexts), batch_size):
            batch = [list(c)[-limit:] if limit else list(c) for c in contexts[start:start + batch_size]]
            ids, mask = _pad_left(batch, pad, device)
            res = model(input_ids=ids, attention_mask=mask, position_ids=_positions(mask), logits_to_keep=1)
            logp = torch.log_softmax(res.logits[:, -1, :].float(), dim=-1)
            for r, cand in enumerate(candidates[start:start + batch_size]):
                out.append([float(logp[r, t]) for t in cand])
            if on_batch:
                on_batch(len(batch))
    finally:
        model.train(was_training)
    return out


def next_token_logprobs(model, tok, texts: Sequence[str], token_ids: Sequence[int], *, batch_size: int,
                        on_batch: Callable[[int], None] | None = None) -> list[list[float]]:
    """log P(token | text) for given candidate token ids."""
    ctx = [tok.encode(t, add_special_tokens=False) for t in texts]
    return next_token_logprobs_ids(model, tok, ctx, [list(token_ids)] * len(ctx), batch_size=batch_size,
                                   on_batch=on_batch)


def choice_logprobs(model, tok, texts: Sequence[str], symbols: Sequence[str], *, batch_size: int,
                    on_batch: Callable[[int], None] | None = None) -> list[list[float]]:
    """log P(symbol | text) for each answer symbol (letters after "The answer is ("), with the
    symbol's token derived per text by `choice_context`."""
    pairs = [choice_context(tok, t, symbols) for t in texts]
    return next_token_logprobs_ids(model, tok, [c for c, _ in pairs], [i for _, i in pairs],
                                   batch_size=batch_size, on_batch=on_batch)


OPTION_TOKEN_BUDGET = 4096   # rows x (prefix + option width) of one option_logprobs forward pass


def option_batches(prefix_lens: Sequence[int], option_lens: Sequence[Sequence[int]], batch_size: int,
                   token_budget: int = OPTION_TOKEN_BUDGET) -> list[tuple[int, int]]:
    """[start, end) ranges of consecutive items for option_logprobs: at most `batch_size` items, and
    no more than `token_budget` padded tokens in the second pass (items x options x (longest
    prefix + longest option)), whose full-vocabulary logits dominate memory. An item over the
    budget on its own is a batch of one."""
    out, i, n = [], 0, len(prefix_lens)
    while i < n:
        k = len(option_lens[i])
        p, w, j = prefix_lens[i], max(option_lens[i]), i + 1
        while j < n and j - i < batch_size:
            p2, w2 = max(p, prefix_lens[j]), max(w, max(option_lens[j]))
            if (j + 1 - i) * k * (p2 + w2) > token_budget:
                break
            p, w, j = p2, w2, j + 1
        out.append((i, j))
        i = j
    return out


def _continuation_logprob(logits, targets, n: int) -> float:
    """Sum over the first n positions of log softmax(logits)[target], in fp32, without a second
    full-vocabulary tensor (one row's logsumexp at a time)."""
    lg = logits[:n].float()
    return float((lg.gather(-1, targets[:n].unsqueeze(-1)).squeeze(-1) - torch.logsumexp(lg, dim=-1)).sum())


@torch.no_grad()
def option_logprobs(model, tok, prefixes: Sequence[str], options: Sequence[Sequence[str]], *, batch_size: int,
                    on_batch: Callable[[int], None] | None = None,
                    token_budget: int = OPTION_TOKEN_BUDGET) -> list[list[tuple[float, int]]]:
    """(sum of log-probs, token count) of each option text as the continuation of its prefix.

    The prefix is run once and its KV cache is shared by all options (3 answers of a BBQ question
    cost about one forward pass, not three). Options are tokenised on their own, i.e. the
    boundary is a token boundary; prefixes here end in a newline (the assistant header), where
    byte-level BPE splits anyway. Batches are bounded by `batch_size` items and by `token_budget`
    tokens (`option_batches`): HHH's long dialogues and replies in batches of 8 took 7 GB of
    logits on SmolLM2's 49k vocabulary.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    k = len(options[0]) if len(options) else 0
    if any(len(o) != k for o in options):
        raise ValueError("every prefix needs the same number of options")
    pre_ids = [tok.encode(p, add_special_tokens=False) for p in prefixes]
    opt_ids_all = [[tok.encode(o, add_special_tokens=False) or [pad] for o in row] for row in options]
    out: list[list[tuple[float, int]]] = []
    try:
        for start, end in option_batches([len(x) for x in pre_ids], [[len(x) for x in row] for row in opt_ids_all],
                                         batch_size, token_budget):
            ids_p, mask_p = _pad_left(pre_ids[start:end], pad, device)
            first = model(input_ids=ids_p, attention_mask=mask_p, position_ids=_positions(mask_p), use_cache=True,
                          logits_to_keep=1)
            first_logp = torch.log_softmax(first.logits[:, -1, :].float(), dim=-1)   # predicts token 0
            cache = first.past_key_values
            cache.batch_repeat_interleave(k)
            opt_ids = [x for row in opt_ids_all[start:end] for x in row]
            width = max(len(x) for x in opt_ids)
            ids = torch.full((len(opt_ids), width), pad, dtype=torch.long)
            cmask = torch.zeros((len(opt_ids), width), dtype=torch.long)
            for i, x in enumerate(opt_ids):
                ids[i, :len(x)] = torch.tensor(x)
                cmask[i, :len(x)] = 1
            ids = ids.to(device)
            pmask = mask_p.repeat_interleave(k, dim=0)
            # Positions continue from each prefix's real length (left padding is not counted).
            plen = pmask.sum(dim=1, keepdim=True)
            pos = plen + torch.arange(width, device=device).unsqueeze(0)
            rest = model(input_ids=ids, attention_mask=torch.cat([pmask, cmask.to(device)], dim=1),
                         position_ids=pos, past_key_values=cache, use_cache=False)
            logits = rest.logits                                   # row j predicts option token j + 1
            del cache, first
            for r in range(end - start):
                scores = []
                for j in range(k):
                    row = r * k + j
                    x = opt_ids[row]
                    total = float(first_logp[r, x[0]])
                    if len(x) > 1:
                        total += _continuation_logprob(logits[row], ids[row, 1:], len(x) - 1)
                    scores.append((total, len(x)))
                out.append(scores)
            del rest, logits
            if on_batch:
                on_batch(end - start)
    finally:
        model.train(was_training)
    return out
