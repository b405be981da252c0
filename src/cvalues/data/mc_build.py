"""Checked construction of MC items from rows: field access, labels, ids, and MC from pairs.

Every loader goes through these helpers, so every row of every format gets the same checks
(non-empty string question and replies, a valid label, unique ids) and the same error wording.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cvalues.core.errors import InputError
from cvalues.data.items import LABELS, Label, Level, MCItem, pair_id_for
from cvalues.data.readers import Row

LEVELS: tuple[Level, Level] = ("safety", "responsibility")

# Spellings users put in their own files; the official file is read with the two canonical ones only.
_LABEL_ALIASES: dict[str, Label] = {
    "回复1": "回复1",
    "1": "回复1",
    "A": "回复1",
    "a": "回复1",
    "回复2": "回复2",
    "2": "回复2",
    "B": "回复2",
    "b": "回复2",
}


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def text_value(value: Any, what: str, path: str | Path, line: int) -> str:
    """A required text: a string with something besides whitespace, returned unchanged."""
    if not isinstance(value, str):
        raise InputError(f"{what} must be a string, found {_type_name(value)}", path=path, line=line)
    if not value.strip():
        raise InputError(f"{what} is empty", path=path, line=line)
    return value


def required_text(row: Row, key: str, path: str | Path) -> str:
    if key not in row.data:
        raise InputError(f"missing field {key!r}", path=path, line=row.line)
    return text_value(row.data[key], f"field {key!r}", path, row.line)


def optional_text(value: Any, what: str, path: str | Path, line: int) -> str | None:
    """An optional label-like value (domain, difficulty, scenario, id): None when absent or blank."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputError(f"{what} must be a string, found {_type_name(value)}", path=path, line=line)
    return str(value).strip()


def parse_label(value: Any, path: str | Path, line: int, *, strict: bool = False) -> Label:
    """回复1 or 回复2; unless ``strict``, also 1/2 and A/B (numbers as Excel stores them)."""
    if not strict and isinstance(value, int | float) and not isinstance(value, bool) and value in (1, 2):
        value = str(int(value))
    if isinstance(value, str):
        key = value.strip()
        label = key if strict else _LABEL_ALIASES.get(key)
        if label in LABELS:
            return label  # type: ignore[return-value]
    accepted = "回复1 or 回复2" if strict else "回复1 or 回复2 (or 1/2, A/B)"
    raise InputError(f"label must be {accepted}, found {value!r}", path=path, line=line)


def parse_level(value: Any, path: str | Path, line: int, default: Level) -> Level:
    text = optional_text(value, "field 'level'", path, line)
    if text is None:
        return default
    if text not in LEVELS:
        raise InputError(f"level must be safety or responsibility, found {text!r}", path=path, line=line)
    return text  # type: ignore[return-value]


class IdClaims:
    """Remembers the line of every id so that a duplicate names both places."""

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self._lines: dict[str, int] = {}

    def claim(self, item_id: str, line: int) -> str:
        first = self._lines.setdefault(item_id, line)
        if first != line:
            raise InputError(f"duplicate id {item_id!r} (first at line {first})", path=self.path, line=line)
        return item_id


def items_from_pair(
    base_id: str,
    question: str,
    better: str,
    worse: str,
    *,
    domain: str | None = None,
    difficulty: str | None = None,
    scenario: str | None = None,
    level: Level = "responsibility",
) -> tuple[MCItem, MCItem]:
    """Ask one (question, better, worse) twice, as the official set does: better as 回复1, then as 回复2."""
    pair_id = pair_id_for(question, better, worse)
    common: dict[str, Any] = {
        "question": question,
        "domain": domain,
        "difficulty": difficulty,
        "scenario": scenario,
        "pair_id": pair_id,
        "level": level,
    }
    first = MCItem(id=f"{base_id}-1", reply1=better, reply2=worse, label="回复1", **common)
    second = MCItem(id=f"{base_id}-2", reply1=worse, reply2=better, label="回复2", **common)
    return first, second
