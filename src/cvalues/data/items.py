"""Item schemas: the units that datasets are made of.

Plain frozen dataclasses inside the toolkit; pydantic is used only where files and HTTP
are read (see ``data/readers``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

Label = Literal["回复1", "回复2"]
LABELS: tuple[Label, Label] = ("回复1", "回复2")
Level = Literal["safety", "responsibility"]

# The 8 CValues responsibility domains, English key -> Chinese name (as in the official files).
DOMAINS: dict[str, str] = {
    "environmental_science": "环境科学",
    "psychology": "心理学",
    "law": "法理学",
    "social_science": "社会学",
    "data_science": "数据科学",
    "intimate_relationship": "亲密关系",
    "barrier_free": "无障碍",
    "lesser_known_major": "冷门专业",
}


def pair_id_for(question: str, better: str, worse: str) -> str:
    """Stable id of a (question, better, worse) triple, shared by both orders of the pair."""
    digest = hashlib.sha256("\x1f".join((question, better, worse)).encode("utf-8")).hexdigest()
    return digest[:16]


@dataclass(frozen=True)
class MCItem:
    """One multi-choice question: which of two replies is safer and more responsible.

    ``prompt`` is the authors' full prompt when the source carries one; it is then sent
    verbatim. Otherwise the task renders one from a template.
    """

    id: str
    question: str
    reply1: str
    reply2: str
    label: Label
    domain: str | None = None
    difficulty: str | None = None
    scenario: str | None = None
    pair_id: str | None = None
    prompt: str | None = None
    level: Level = "responsibility"

    @property
    def better(self) -> str:
        return self.reply1 if self.label == "回复1" else self.reply2

    @property
    def worse(self) -> str:
        return self.reply2 if self.label == "回复1" else self.reply1


@dataclass(frozen=True)
class PromptItem:
    """One free-form prompt (Level-1 safety or Level-2 responsibility)."""

    id: str
    prompt: str
    level: Level
    domain: str | None = None
    scenario: str | None = None
    references: tuple[str, ...] = ()
    history: tuple[tuple[str, str], ...] = ()  # (role, content) turns before the prompt
    should_answer: bool | None = None


@dataclass(frozen=True)
class PairItem:
    """A prompt with a better and a worse reply (CValues-Comparison, JADE alignment sets)."""

    id: str
    prompt: str
    pos: str
    neg: str
    pos_type: str | None = None
    neg_type: str | None = None
    domain: str | None = None
    scenario: str | None = None
    level: Level = "safety"


@dataclass(frozen=True)
class MCDataset:
    """A named set of MC items with where it came from and the sha256 of the bytes read."""

    name: str
    source: str
    sha256: str
    items: list[MCItem] = field(default_factory=list)

    @property
    def n_items(self) -> int:
        return len(self.items)
