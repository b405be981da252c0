"""A user's own MC file (JSONL, JSON, CSV, XLSX) read through a field mapping.

Our field names map to the user's columns (``--field question=题目``); unmapped names are looked
up under their own name. A file has either ``reply1, reply2, label`` (asked as written) or
``better, worse`` (asked in both orders, as the official set is built).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from cvalues.core.errors import InputError
from cvalues.data.items import Level, MCItem, pair_id_for
from cvalues.data.mc_build import (
    IdClaims,
    items_from_pair,
    optional_text,
    parse_label,
    parse_level,
    text_value,
)
from cvalues.data.readers import Row

DIRECT_FIELDS = ("question", "reply1", "reply2", "label")
PAIR_FIELDS = ("question", "better", "worse")
OPTIONAL_FIELDS = ("id", "domain", "difficulty", "scenario", "level")
FIELD_NAMES: tuple[str, ...] = ("question", "reply1", "reply2", "label", "better", "worse", *OPTIONAL_FIELDS)

Layout = Literal["direct", "pairs"]


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


def load_mapped_mc(
    rows: list[Row],
    path: Path,
    fields: Mapping[str, str] | None = None,
    *,
    default_level: Level = "responsibility",
) -> list[MCItem]:
    mapping = check_field_mapping(fields)
    layout = _layout(rows[0], path, mapping, set(fields or ()))
    ids = IdClaims(path)
    items: list[MCItem] = []
    for row in rows:
        view = _MappedRow(row, mapping, path)
        question = view.text("question")
        base = ids.claim(view.optional("id") or str(row.line), row.line)
        domain, difficulty, scenario = (
            view.optional("domain"),
            view.optional("difficulty"),
            view.optional("scenario"),
        )
        level = parse_level(row.data.get(mapping["level"]), path, row.line, default_level)
        if layout == "pairs":
            pair = items_from_pair(
                base,
                question,
                view.text("better"),
                view.text("worse"),
                domain=domain,
                difficulty=difficulty,
                scenario=scenario,
                level=level,
            )
            items.extend(pair)
            continue
        reply1, reply2 = view.text("reply1"), view.text("reply2")
        label = parse_label(view.raw("label"), path, row.line)
        better, worse = (reply1, reply2) if label == "回复1" else (reply2, reply1)
        items.append(
            MCItem(
                id=base,
                question=question,
                reply1=reply1,
                reply2=reply2,
                label=label,
                domain=domain,
                difficulty=difficulty,
                scenario=scenario,
                pair_id=pair_id_for(question, better, worse),
                level=level,
            )
        )
    return items


def _layout(first: Row, path: Path, mapping: dict[str, str], mapped: set[str]) -> Layout:
    """Pairs when better/worse are mapped or present, direct for reply1/reply2/label."""
    if mapped & {"better", "worse"}:
        return "pairs"
    if mapped & {"reply1", "reply2", "label"}:
        return "direct"
    present = {ours for ours, column in mapping.items() if column in first.data}
    if present & {"better", "worse"}:
        return "pairs"
    if present & {"reply1", "reply2", "label"}:
        return "direct"
    columns = ", ".join(repr(str(name)) for name in list(first.data)[:8])
    raise InputError(
        f"no reply fields among the columns ({columns}); map them with --field reply1=COL --field reply2=COL "
        "--field label=COL, or --field better=COL --field worse=COL",
        path=path,
        line=first.line,
    )
