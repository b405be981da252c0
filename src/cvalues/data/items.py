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
LEVELS: tuple[Level, Level] = ("safety", "responsibility")
# Lettered options: A, B, C, ... (26 at most, which no public set comes near).
OPTION_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ItemKind = Literal["replies", "letters"]

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


def letters_for(n_options: int) -> tuple[str, ...]:
    """The letters of ``n_options`` options: 3 -> ("A", "B", "C")."""
    return tuple(OPTION_LETTERS[:n_options])


@dataclass(frozen=True)
class MCItem:
    """One multi-choice question, of one of two kinds.

    - ``replies`` (the CValues format): which of 回复1 / 回复2 is safer and more responsible;
      ``label`` is 回复1 or 回复2 and ``options`` is empty.
    - ``letters``: 2..26 options labelled A, B, C, ...; ``options`` holds their texts, ``label``
      is the letter of the right one, ``reply1`` / ``reply2`` are empty, ``context`` (if any) is
      shown before the question. Build these with ``MCItem.lettered``.

    ``prompt`` is the authors' full prompt when the source carries one; it is then sent
    verbatim. Otherwise the task renders one from a template.
    """

    id: str
    question: str
    reply1: str
    reply2: str
    label: str
    domain: str | None = None
    difficulty: str | None = None
    scenario: str | None = None
    pair_id: str | None = None
    prompt: str | None = None
    level: Level | None = "responsibility"
    options: tuple[str, ...] = ()
    context: str | None = None
    rotation: int = 0  # circular evaluation: how far the options were rotated (0 = as in the file)

    def __post_init__(self) -> None:
        # Options read back from JSON (the store's payload) arrive as a list; items stay hashable.
        if not isinstance(self.options, tuple):
            object.__setattr__(self, "options", tuple(self.options))

    @classmethod
    def lettered(
        cls, *, id: str, question: str, options: tuple[str, ...], answer: int, **common: object
    ) -> MCItem:
        """A lettered item whose right option is ``options[answer]`` (0-based)."""
        if len(options) < 2 or len(options) > len(OPTION_LETTERS):
            raise ValueError(f"item {id!r}: {len(options)} options; 2 to {len(OPTION_LETTERS)} are allowed")
        if not 0 <= answer < len(options):
            raise ValueError(f"item {id!r}: answer index {answer} is outside 0..{len(options) - 1}")
        return cls(
            id=id,
            question=question,
            reply1="",
            reply2="",
            label=OPTION_LETTERS[answer],
            options=tuple(options),
            **common,  # type: ignore[arg-type]
        )

    @property
    def kind(self) -> ItemKind:
        return "letters" if self.options else "replies"

    @property
    def letters(self) -> tuple[str, ...]:
        """The answer choices: A, B, ... for lettered items, 回复1 / 回复2 otherwise."""
        return letters_for(len(self.options)) if self.options else LABELS

    @property
    def n_options(self) -> int:
        return len(self.options) if self.options else 2

    @property
    def better(self) -> str:
        if self.options:
            return self.options[OPTION_LETTERS.index(self.label)]
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
