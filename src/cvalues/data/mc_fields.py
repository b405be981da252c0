"""A user's own MC file (JSONL, JSON, CSV, XLSX) read through a field mapping.

Our field names map to the user's columns (``--field question=题目``); unmapped names are looked
up under their own name. A file has one of three layouts:

- ``reply1, reply2, label`` (asked as written),
- ``better, worse`` (asked in both orders, as the official set is built),
- ``options`` (lettered A, B, C, ...: one list column, ``--field options=选项``, or one column
  per option, ``--field options=A,B,C``) with ``answer`` (a letter, or a number counted by
  ``--answer-base``), or a separate answer key joined by id (``--answers KEYFILE``), and an
  optional ``context`` shown before the question.

A number as an answer or label is never read without ``--answer-base``; a row without a level
takes ``--level`` or is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from cvalues.core.errors import InputError
from cvalues.data.answer_keys import AnswerKey
from cvalues.data.items import OPTION_LETTERS, Level, MCItem, pair_id_for
from cvalues.data.mc_build import (
    AnswerBase,
    IdClaims,
    answer_index,
    items_from_pair,
    optional_text,
    parse_label,
    parse_level,
    text_value,
)
from cvalues.data.readers import Row

DIRECT_FIELDS = ("question", "reply1", "reply2", "label")
PAIR_FIELDS = ("question", "better", "worse")
LETTER_FIELDS = ("question", "options", "answer", "context")
OPTIONAL_FIELDS = ("id", "domain", "difficulty", "scenario", "level")
# ``response`` is read by ``mc score`` only (the reply to score, beside the item).
FIELD_NAMES: tuple[str, ...] = (
    "question",
    "reply1",
    "reply2",
    "label",
    "better",
    "worse",
    "options",
    "answer",
    "context",
    *OPTIONAL_FIELDS,
    "response",
)

Layout = Literal["direct", "pairs", "letters"]


def check_field_mapping(fields: Mapping[str, str] | None) -> dict[str, str]:
    """Our name -> column for every field name, the user's mapping over the identity."""
    mapping = {name: name for name in FIELD_NAMES}
    for ours, theirs in (fields or {}).items():
        if ours not in FIELD_NAMES:
            raise InputError(f"unknown field {ours!r}; fields are {', '.join(FIELD_NAMES)}", flag="--field")
        if not theirs:
            raise InputError(f"field {ours!r} is mapped to an empty column name", flag="--field")
        mapping[ours] = theirs
    return mapping


class _MappedRow:
    """One row seen through the mapping, so errors speak of our field names and their columns."""

    def __init__(self, row: Row, mapping: dict[str, str], path: Path) -> None:
        self.row, self.mapping, self.path, self.line = row, mapping, path, row.line

    def raw(self, ours: str) -> object:
        column = self.mapping[ours]
        if column not in self.row.data:
            raise InputError(
                f"missing field {ours!r} (column {column!r}); map it with --field {ours}=COLUMN",
                path=self.path,
                line=self.line,
            )
        return self.row.data[column]

    def text(self, ours: str) -> str:
        return text_value(self.raw(ours), f"field {ours!r}", self.path, self.line)

    def optional(self, ours: str) -> str | None:
        return optional_text(self.row.data.get(self.mapping[ours]), f"field {ours!r}", self.path, self.line)

    def options(self) -> tuple[str, ...]:
        """The option texts, from one list column or from one column per option."""
        column = self.mapping["options"]
        if column not in self.row.data and "," in column:
            values: list[Any] = []
            for name in (part.strip() for part in column.split(",")):
                if name not in self.row.data:
                    raise InputError(
                        f"missing option column {name!r} (from --field options={column})",
                        path=self.path,
                        line=self.line,
                    )
                values.append(self.row.data[name])
        else:
            values = _option_list(self.raw("options"), self.path, self.line)
        # A file with a column per option leaves the last ones empty when an item has fewer.
        while values and (values[-1] is None or (isinstance(values[-1], str) and not values[-1].strip())):
            values.pop()
        if not 2 <= len(values) <= len(OPTION_LETTERS):
            raise InputError(
                f"an item needs 2 to {len(OPTION_LETTERS)} options, found {len(values)}",
                path=self.path,
                line=self.line,
            )
        return tuple(
            _option_text(value, OPTION_LETTERS[index], self.path, self.line)
            for index, value in enumerate(values)
        )


def _option_list(value: Any, path: Path, line: int) -> list[Any]:
    """A list column: a JSON list, a JSON list written into a CSV cell, or {"A": …, "B": …}."""
    if isinstance(value, str) and value.strip().startswith(("[", "{")):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InputError(f"field 'options' is not a JSON list ({exc.msg})", path=path, line=line) from exc
    if isinstance(value, dict):
        keys = [str(key).strip().upper() for key in value]
        if keys != list(OPTION_LETTERS[: len(keys)]):
            raise InputError(
                f"field 'options' as an object must be keyed A, B, C, … in order, found {list(value)}",
                path=path,
                line=line,
            )
        return list(value.values())
    if not isinstance(value, list):
        raise InputError(
            f"field 'options' must be a list of option texts (or map one column per option with "
            f"--field options=COL1,COL2,…), found {type(value).__name__}",
            path=path,
            line=line,
        )
    return list(value)


def _option_text(value: Any, letter: str, path: Path, line: int) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    return text_value(value, f"option {letter}", path, line)


def load_mapped_mc(
    rows: list[Row],
    path: Path,
    fields: Mapping[str, str] | None = None,
    *,
    default_level: Level | None = None,
    answers: AnswerKey | None = None,
    answer_base: AnswerBase | None = None,
    allow_pairs: bool = True,
    level_required: bool = True,
) -> list[MCItem]:
    """Items from rows, in row order (a better/worse row gives two). ``default_level`` is ``--level``.

    Without ``level_required`` (``mc score``, whose replies exist already) a row with no level
    and no ``--level`` gets level None, recorded as unknown, never guessed.
    """
    mapping = check_field_mapping(fields)
    layout = _layout(rows[0], path, mapping, set(fields or ()))
    if layout == "pairs" and not allow_pairs:
        raise InputError(
            "better/worse rows make two items each; map reply1/reply2/label or options/answer instead",
            path=path,
            line=rows[0].line,
        )
    if answers is not None and layout == "pairs":
        raise InputError(
            "--answers applies to files with options or reply1/reply2, not better/worse", flag="--answers"
        )
    if answers is not None and mapping["id"] not in rows[0].data:
        raise InputError(
            f"--answers joins by id, but the items have no id column {mapping['id']!r}; "
            "map it with --field id=COLUMN",
            path=path,
            line=rows[0].line,
        )
    ids = IdClaims(path)
    items: list[MCItem] = []
    for row in rows:
        made = _row_items(_MappedRow(row, mapping, path), ids, layout, answers, answer_base)
        # The level is read last, so a row's own problems are reported before a missing --level.
        level = _level(row, mapping, path, default_level, level_required)
        items.extend(replace(item, level=level) for item in made)
    return items


def _row_items(
    view: _MappedRow, ids: IdClaims, layout: Layout, answers: AnswerKey | None, answer_base: AnswerBase | None
) -> list[MCItem]:
    row, path = view.row, view.path
    question = view.text("question")
    base = ids.claim(view.optional("id") or str(row.line), row.line)
    common: dict[str, Any] = {
        "domain": view.optional("domain"),
        "difficulty": view.optional("difficulty"),
        "scenario": view.optional("scenario"),
    }
    if layout == "pairs":
        return list(items_from_pair(base, question, view.text("better"), view.text("worse"), **common))
    answer, where, line = _answer_value(view, base, answers, layout)
    if layout == "letters":
        options = view.options()
        index = answer_index(answer, len(options), where, line, base=answer_base)
        raw_context = row.data.get(view.mapping["context"])
        blank = raw_context is None or (isinstance(raw_context, str) and not raw_context.strip())
        context = None if blank else text_value(raw_context, "field 'context'", path, row.line)
        return [
            MCItem.lettered(
                id=base, question=question, options=options, answer=index, context=context, **common
            )
        ]
    reply1, reply2 = view.text("reply1"), view.text("reply2")
    label = parse_label(answer, where, line, base=answer_base)
    better, worse = (reply1, reply2) if label == "回复1" else (reply2, reply1)
    return [
        MCItem(
            id=base,
            question=question,
            reply1=reply1,
            reply2=reply2,
            label=label,
            pair_id=pair_id_for(question, better, worse),
            **common,
        )
    ]


def _level(
    row: Row, mapping: dict[str, str], path: Path, default: Level | None, required: bool
) -> Level | None:
    value = row.data.get(mapping["level"])
    if not required and default is None and optional_text(value, "field 'level'", path, row.line) is None:
        return None
    return parse_level(value, path, row.line, default)


def _answer_value(
    view: _MappedRow, item_id: str, answers: AnswerKey | None, layout: Layout
) -> tuple[Any, Path, int]:
    """The raw answer and where it was read: the key file by id, else the answer (or label) column."""
    if answers is not None:
        return answers.lookup(item_id, view.path, view.line)
    first, second = ("answer", "label") if layout == "letters" else ("label", "answer")
    for ours in (first, second):
        if view.mapping[ours] in view.row.data:
            return view.row.data[view.mapping[ours]], view.path, view.line
    column = view.mapping[first]
    raise InputError(
        f"missing field {first!r} (column {column!r}); map it with --field {first}=COLUMN, "
        "or give a separate answer key with --answers KEYFILE",
        path=view.path,
        line=view.line,
    )


def _layout(first: Row, path: Path, mapping: dict[str, str], mapped: set[str]) -> Layout:
    """Letters when options are mapped or present, pairs for better/worse, direct for reply1/reply2."""
    if "options" in mapped:
        return "letters"
    if mapped & {"better", "worse"}:
        return "pairs"
    if mapped & {"reply1", "reply2"}:
        return "direct"
    present = {ours for ours, column in mapping.items() if column in first.data}
    if "options" in present:
        return "letters"
    if present & {"better", "worse"}:
        return "pairs"
    if present & {"reply1", "reply2", "label"}:
        return "direct"
    columns = ", ".join(repr(str(name)) for name in list(first.data)[:8])
    raise InputError(
        f"no option or reply fields among the columns ({columns}); map them with --field options=COL "
        "(or options=COL1,COL2,…) --field answer=COL, or --field reply1=COL --field reply2=COL "
        "--field label=COL, or --field better=COL --field worse=COL",
        path=path,
        line=first.line,
    )
