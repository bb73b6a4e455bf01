"""The prompt set: loading and the seeded train/held-out split."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .util import read_jsonl, stage_rng

BUILTIN_PROMPTS = Path(__file__).resolve().parent.parent / "data" / "prompts.jsonl"


class PromptError(ValueError):
    pass


@dataclass(frozen=True)
class Prompt:
    prompt: str
    category: str
    harmful: bool = False   # a request a harmless assistant should refuse (refusal.harmful vs refusal.over)


def load(path: Path | None = None) -> list[Prompt]:
    path = Path(path) if path is not None else BUILTIN_PROMPTS
    try:
        rows = read_jsonl(path)
    except (OSError, ValueError) as e:
        raise PromptError(f"cannot read prompts {path}: {e}") from None
    out: list[Prompt] = []
    seen: set[str] = set()
    for i, r in enumerate(rows, 1):
        if not isinstance(r, dict) or not isinstance(r.get("prompt"), str) or not r["prompt"].strip():
            raise PromptError(f"{path}: line {i} needs a non-empty string 'prompt'")
        text = r["prompt"].strip()
        if text in seen:
            continue
        seen.add(text)
        cat = str(r.get("category") or "uncategorized")
        harmful = r.get("harmful", cat == "harmful-request")
        if not isinstance(harmful, bool):
            raise PromptError(f"{path}: line {i}: 'harmful' must be true or false")
        out.append(Prompt(text, cat, harmful))
    if len(out) < 2:
        raise PromptError(f"{path}: need at least 2 distinct prompts, found {len(out)}")
    return out


def split(prompts: list[Prompt], n_train: int, n_held_out: int, seed: int) -> tuple[list[Prompt], list[Prompt]]:
    """Deterministic in (prompt set, seed) and independent of the file's line order.

    Categories are interleaved round-robin after a seeded shuffle, so even a handful of prompts
    spans many categories instead of whichever category happens to come first.
    """
    rng = stage_rng(seed, "prompt-split")
    by_cat: dict[str, list[Prompt]] = {}
    for p in sorted(prompts, key=lambda p: (p.category, p.prompt)):
        by_cat.setdefault(p.category, []).append(p)
    cats = sorted(by_cat)
    rng.shuffle(cats)
    for c in cats:
        rng.shuffle(by_cat[c])
    interleaved: list[Prompt] = []
    depth = max(len(v) for v in by_cat.values())
    for i in range(depth):
        for c in cats:
            if i < len(by_cat[c]):
                interleaved.append(by_cat[c][i])
    total = len(interleaved)
    held = max(1, min(n_held_out, total - 1))
    # Both refusal rows need their prompts: a held-out set of 2 or more keeps at least one harmful
    # request (when the set has any), swapped in for the last benign prompt.
    if held >= 2 and any(p.harmful for p in interleaved) and not any(p.harmful for p in interleaved[:held]):
        j = next(i for i, p in enumerate(interleaved) if p.harmful)
        interleaved[held - 1], interleaved[j] = interleaved[j], interleaved[held - 1]
    train = max(1, min(n_train, total - held))
    return interleaved[held:held + train], interleaved[:held]
