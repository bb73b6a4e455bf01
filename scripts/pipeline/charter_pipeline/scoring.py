"""Model-side primitives: chat rendering, batched generation, next-token and continuation scoring."""
from __future__ import annotations

from typing import Callable, Sequence

import torch

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
             on_batch: Callable[[int], None] | None = None) -> list[list[str]]:
    """One list of `num_return_sequences` completions per conversation."""
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
            for i in range(len(batch)):
                out.append([d.strip() for d in decoded[i * num_return_sequences:(i + 1) * num_return_sequences]])
            if on_batch:
                on_batch(len(batch))
    finally:
        model.train(was_training)
    return out


def single_token_ids(tok, symbols: Sequence[str]) -> list[int]:
    """Token id of each answer letter, as it follows an opening parenthesis."""
    ids = []
    for s in symbols:
        enc = tok.encode(s, add_special_tokens=False)
        if not enc:
            raise ValueError(f"tokenizer cannot encode {s!r}")
        ids.append(enc[0])
    if len(set(ids)) != len(ids):
        raise ValueError(f"answer symbols {symbols} do not map to distinct tokens")
    return ids


@torch.no_grad()
def next_token_logprobs(model, tok, texts: Sequence[str], token_ids: Sequence[int], *, batch_size: int,
                        on_batch: Callable[[int], None] | None = None) -> list[list[float]]:
    """log P(token | text) for each candidate token, from the model's full next-token distribution."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    limit = _context_limit(model, tok, 1)
    idx = torch.tensor(list(token_ids), device=device)
    out: list[list[float]] = []
    try:
        for start in range(0, len(texts), batch_size):
            batch = texts[start:start + batch_size]
            enc = _encode(tok, batch, "left", limit).to(device)
            # Left padding puts every prompt's last token in the last column, so one logit row suffices.
            logits = model(**enc, logits_to_keep=1).logits[:, -1, :].float()
            logp = torch.log_softmax(logits, dim=-1)[:, idx]
            out.extend(logp.cpu().tolist())
            if on_batch:
                on_batch(len(batch))
    finally:
        model.train(was_training)
    return out


@torch.no_grad()
def continuation_logprobs(model, tok, prefixes: Sequence[str], continuations: Sequence[str], *,
                          batch_size: int, on_batch: Callable[[int], None] | None = None) -> list[tuple[float, int]]:
    """(sum of log-probs, token count) of each continuation given its prefix."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out: list[tuple[float, int]] = []
    try:
        for start in range(0, len(prefixes), batch_size):
            pre = prefixes[start:start + batch_size]
            cont = continuations[start:start + batch_size]
            pre_ids = [tok.encode(p, add_special_tokens=False) for p in pre]
            full_ids = [tok.encode(p + c, add_special_tokens=False) for p, c in zip(pre, cont)]
            width = max(len(f) for f in full_ids)
            pad = tok.pad_token_id if tok.pad_token_id is not None else 0
            ids = torch.full((len(pre), width), pad, dtype=torch.long)
            mask = torch.zeros((len(pre), width), dtype=torch.long)
            for i, f in enumerate(full_ids):
                ids[i, :len(f)] = torch.tensor(f)
                mask[i, :len(f)] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            targets = ids[:, 1:].to(device)
            tok_lp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            for i, (p, f) in enumerate(zip(pre_ids, full_ids)):
                # Where the prefix and prefix+continuation tokenise differently at the seam, the
                # continuation starts at the first differing token.
                k = 0
                while k < min(len(p), len(f)) and p[k] == f[k]:
                    k += 1
                k = max(k, 1)
                n = len(f) - k
                out.append((float(tok_lp[i, k - 1:len(f) - 1].sum()) if n > 0 else 0.0, n))
            if on_batch:
                on_batch(len(pre))
    finally:
        model.train(was_training)
    return out
