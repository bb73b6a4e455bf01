"""Constitutions (charter.constitution/v1) as the pipeline uses them."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .util import sha256_file

CRITIQUE_TEMPLATE = ("Identify specific ways in which the assistant's last response does not follow "
                     "this principle: {text}")
REVISION_TEMPLATE = "Please rewrite the assistant response so that it follows this principle: {text}"


class ConstitutionError(ValueError):
    pass


@dataclass(frozen=True)
class Principle:
    id: str
    category: str
    text: str       # "Choose the response that …": the feedback model's multiple-choice principle
    critique: str   # critique request (SL-CAI)
    revision: str   # revision request (SL-CAI)


@dataclass
class Constitution:
    name: str
    version: object
    kind: str
    principles: list[Principle]
    path: Path
    sha256: str


def principle_from_dict(d: dict, index: int) -> Principle:
    if not isinstance(d, dict):
        raise ConstitutionError(f"principle #{index + 1} is not an object")
    text = d.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ConstitutionError(f"principle #{index + 1} has no 'text'")
    text = text.strip()
    # Compiled collective constitutions may carry only the text; derive the SL-CAI requests from it
    # in the wording of the CAI paper's critique/revision requests.
    critique = d.get("critique")
    revision = d.get("revision")
    if not isinstance(critique, str) or not critique.strip():
        critique = CRITIQUE_TEMPLATE.format(text=text)
    if not isinstance(revision, str) or not revision.strip():
        revision = REVISION_TEMPLATE.format(text=text)
    pid = d.get("id")
    return Principle(
        id=str(pid) if pid not in (None, "") else f"p{index + 1:02d}",
        category=str(d.get("category") or "uncategorized"),
        text=text,
        critique=critique.strip(),
        revision=revision.strip(),
    )


def parse(data: dict, path: Path, sha256: str = "") -> Constitution:
    if not isinstance(data, dict):
        raise ConstitutionError(f"{path}: constitution must be a JSON object")
    raw = data.get("principles")
    if not isinstance(raw, list) or not raw:
        raise ConstitutionError(f"{path}: constitution has no principles")
    principles = [principle_from_dict(p, i) for i, p in enumerate(raw)]
    return Constitution(name=str(data.get("name") or path.stem), version=data.get("version"),
                        kind=str(data.get("kind") or ""), principles=principles, path=path, sha256=sha256)


def load(path: Path) -> Constitution:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConstitutionError(f"cannot read constitution {path}: {e}") from None
    return parse(data, path, sha256_file(path))
