"""Checked construction of MC items from rows: field access, labels, ids, and MC from pairs.

Every loader goes through these helpers, so every row of every format gets the same checks
(non-empty string question and replies, a valid label, unique ids) and the same error wording.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from cvalues.core.errors import InputError
from cvalues.data.items import LABELS, LEVELS, OPTION_LETTERS, Label, Level, MCItem, pair_id_for
from cvalues.data.readers import Row

AnswerBase = Literal[0, 1]

# Spellings users put in their own files; the official file is read with the two canonical ones only.
# Numbers are not here: whether "1" is the first or the second reply depends on --answer-base.
_LABEL_ALIASES: dict[str, Label] = {
    "回复1": "回复1",
    "A": "回复1",
    "a": "回复1",
    "回复2": "回复2",
    "B": "回复2",
    "b": "回复2",
}
_LETTER = re.compile(r"^\s*[(（]?\s*([A-Za-z])\s*[)）.．。、]?\s*$")
_NUMBER = re.compile(r"^\s*(\d+)(?:\.0+)?\s*$")


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


def numeric_answer(value: Any) -> int | None:
    """The number in an answer cell (7, 7.0 as Excel stores it, "7"), or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        match = _NUMBER.match(value)
        return int(match.group(1)) if match else None
    return None


def answer_index(
    value: Any, n_options: int, path: str | Path, line: int, *, base: AnswerBase | None, what: str = "answer"
) -> int:
    """The 0-based index of the right option from a letter ("C", "c", "(C)", "C.") or a number.

    A number means nothing without its base (is 1 the first option or the second?), so it is
    refused unless ``base`` (``--answer-base``) says how it counts: never guessed.
    """
    letters = OPTION_LETTERS[:n_options]
    if isinstance(value, str):
        match = _LETTER.match(value)
        if match:
            letter = match.group(1).upper()
            if letter not in letters:
                raise InputError(
                    f"{what} {value!r} names no option (the item has {n_options}: {', '.join(letters)})",
                    path=path,
                    line=line,
                )
            return letters.index(letter)
    number = numeric_answer(value)
    if number is None:
        raise InputError(
            f"{what} must be a letter ({', '.join(letters)}) or a number, found {value!r}",
            path=path,
            line=line,
        )
    if base is None:
        raise InputError(
            f"{what} {value!r} is a number: say how it counts with --answer-base 0 (0 = the first option) "
            "or --answer-base 1 (1 = the first option)",
            path=path,
            line=line,
        )
    index = number - base
    if not 0 <= index < n_options:
        raise InputError(
            f"{what} {value!r} (--answer-base {base}) is outside the {n_options} options "
            f"({base}..{n_options - 1 + base})",
            path=path,
            line=line,
        )
    return index


def parse_label(
    value: Any, path: str | Path, line: int, *, strict: bool = False, base: AnswerBase | None = None
) -> Label:
    """回复1 or 回复2; unless ``strict``, also A/B, and numbers counted by ``base`` (``--answer-base``)."""
    if isinstance(value, str):
        key = value.strip()
        label = key if strict else _LABEL_ALIASES.get(key)
        if label in LABELS:
            return label  # type: ignore[return-value]
    if not strict and numeric_answer(value) is not None:
        return LABELS[answer_index(value, 2, path, line, base=base, what="label")]
    accepted = "回复1 or 回复2" if strict else "回复1 or 回复2 (or A/B, or a number with --answer-base)"
    raise InputError(f"label must be {accepted}, found {value!r}", path=path, line=line)


def parse_level(value: Any, path: str | Path, line: int, default: Level | None) -> Level:
    """The row's level, else ``default`` (``--level``); neither is an error, never a silent guess."""
    text = optional_text(value, "field 'level'", path, line)
    if text is None:
        if default is None:
            raise InputError(
                "no level: the file has no level column (or this row leaves it empty); say which level "
                "the items measure with --level safety or --level responsibility",
                path=path,
                line=line,
                flag="--level",
            )
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
