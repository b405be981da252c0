"""Answer keys kept apart from the items (``--answers KEYFILE``), joined to them by item id.

Public MC sets often ship the questions in one file and the answers in another. A key is
either a JSON object keyed by id whose values are the answer or an object holding it (under the
``answer`` field name, or the column ``--field answer=`` maps it to), or a table (JSONL, JSON
list, CSV, XLSX) with an id column and an answer column. Values are returned raw: what a number
means is decided with the item, by ``--answer-base``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvalues.core.errors import InputError
from cvalues.data.encoding import decode_bytes, read_bytes
from cvalues.data.readers import rows_from_bytes, table_format_of


@dataclass(frozen=True)
class AnswerKey:
    """id -> raw answer, and where each came from (for error messages)."""

    path: Path
    answers: dict[str, Any]
    lines: dict[str, int | None]

    def lookup(self, item_id: str, item_path: Path, item_line: int) -> tuple[Any, Path, int]:
        """(answer, where to point an error about it): the key's line when known, else the item's."""
        if item_id not in self.answers:
            raise InputError(
                f"the answer key {self.path} has no answer for id {item_id!r}", path=item_path, line=item_line
            )
        line = self.lines.get(item_id)
        return self.answers[item_id], (self.path if line else item_path), (line or item_line)


def _id_text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel stores 7 as 7.0
    if isinstance(value, str | int):
        return str(value).strip() or None
    return None


def _keyed_object(top: Any) -> bool:
    """A JSON object of id -> answer (scalars or small objects), not a wrapper around a list of records."""
    return isinstance(top, dict) and bool(top) and all(not isinstance(v, list) for v in top.values())


def load_answer_key(
    path: str | Path, mapping: Mapping[str, str], *, encoding: str | None = None
) -> AnswerKey:
    """Read ``--answers``; ``mapping`` gives the id and answer field names (ours over the identity)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError("answer key file not found", path=file, flag="--answers")
    data = read_bytes(file)
    fmt = table_format_of(file, data)
    id_name, answer_name = mapping.get("id", "id"), mapping.get("answer", "answer")
    answers: dict[str, Any] = {}
    lines: dict[str, int | None] = {}
    if fmt == "json":
        text, _ = decode_bytes(data, file, encoding)
        try:
            top = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"invalid JSON: {exc.msg} (column {exc.colno})", path=file, line=exc.lineno
            ) from exc
        if _keyed_object(top):
            for key, value in top.items():
                if isinstance(value, dict):
                    if answer_name not in value and "answer" in value:
                        value = {answer_name: value["answer"]}
                    if answer_name not in value:
                        raise InputError(
                            f"the entry for id {key!r} has no field {answer_name!r}; name it with "
                            "--field answer=FIELD",
                            path=file,
                        )
                    value = value[answer_name]
                answers[key.strip()], lines[key.strip()] = value, None
            return AnswerKey(file, answers, lines)
    rows = rows_from_bytes(data, file, fmt, encoding=encoding)
    # The key may name its columns plainly (id, answer) even where the items file needs a mapping.
    id_name = id_name if id_name in rows[0].data or "id" not in rows[0].data else "id"
    answer_name = answer_name if answer_name in rows[0].data or "answer" not in rows[0].data else "answer"
    for row in rows:
        for name in (id_name, answer_name):
            if name not in row.data:
                raise InputError(
                    f"missing column {name!r} in the answer key; map it with --field "
                    f"{'id' if name == id_name else 'answer'}=COLUMN",
                    path=file,
                    line=row.line,
                )
        key = _id_text(row.data[id_name])
        if key is None:
            raise InputError(
                f"id must be a string or a number, found {row.data[id_name]!r}", path=file, line=row.line
            )
        if key in answers:
            raise InputError(f"duplicate id {key!r} (first at line {lines[key]})", path=file, line=row.line)
        answers[key], lines[key] = row.data[answer_name], row.line
    return AnswerKey(file, answers, lines)
