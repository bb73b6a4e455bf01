"""The model side of the battery: one object per model with four questions it can be asked.

`choice` (next-token log-probabilities of answer symbols after a text), `options` (log-likelihood
of each option text as the continuation of a prefix), `generate` (greedy answers) and `render`
(the chat template). Work is spread over the processes of a distributed run (`dist.shard_map`)."""
from __future__ import annotations

from typing import Callable, Sequence

from .. import dist
from ..scoring import choice_logprobs, generate, option_logprobs, render


class Runner:
    def __init__(self, model, tok, params: dict, on_batch: Callable[[int], None] | None = None):
        self.model, self.tok, self.params = model, tok, params
        self.on_batch = on_batch

    def _tick(self, n: int) -> None:
        if self.on_batch:
            self.on_batch(n * dist.world_size())

    def render(self, messages: list[dict], prefix: str = "") -> str:
        return render(self.tok, messages, assistant_prefix=prefix)

    def choice(self, texts: Sequence[str], symbols: Sequence[str]) -> list[list[float]]:
        bs = self.params["score_batch_size"]
        return dist.shard_map(lambda xs: choice_logprobs(self.model, self.tok, xs, symbols, batch_size=bs,
                                                         on_batch=self._tick), list(texts))

    def options(self, prefixes: Sequence[str], options: Sequence[Sequence[str]]) -> list[list[tuple[float, int]]]:
        bs = self.params["score_batch_size"]

        def run(items):
            # option_logprobs needs the same number of options within a batch: group by count.
            out: list = [None] * len(items)
            groups: dict[int, list[int]] = {}
            for i, (_, o) in enumerate(items):
                groups.setdefault(len(o), []).append(i)
            for k, idx in sorted(groups.items()):
                # Every option is a row of the second forward pass (with full-vocabulary logits):
                # keep batch x options near score_batch_size x 4 (GlobalOpinionQA has up to 18 options);
                # option_logprobs also bounds each pass's tokens (long HHH dialogues).
                res = option_logprobs(self.model, self.tok, [items[i][0] for i in idx], [items[i][1] for i in idx],
                                      batch_size=max(1, min(bs, (4 * bs) // k)), on_batch=self._tick)
                for i, r in zip(idx, res):
                    out[i] = r
            return out

        return dist.shard_map(run, list(zip(prefixes, options)))

    def generate(self, convs: Sequence[list[dict]], max_new_tokens: int, seed: int) -> list[str]:
        p = self.params

        def run(items):
            out = generate(self.model, self.tok, items, max_new_tokens=max_new_tokens, batch_size=p["gen_batch_size"],
                           do_sample=False, temperature=p["temperature"], top_p=p["top_p"], seed=seed,
                           on_batch=self._tick)
            return [r[0] for r in out]

        return dist.shard_map(run, list(convs))
