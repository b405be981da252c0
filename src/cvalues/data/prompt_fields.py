"""A user's own prompt file (JSONL, JSON, CSV, XLSX) read through a field mapping, and plain-text
prompt files with one prompt per line (XSafety's CSVs, ``.txt`` files).

Our field names map to the user's columns (``--field prompt=问题``); unmapped names are looked up
under their own name. Only ``prompt`` is required. Without a ``level`` column a row with a
domain is a responsibility prompt and any other row a safety prompt.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cvalues.core.errors import InputError
from cvalues.data.items import Level, PromptItem
from cvalues.data.mc_build import IdClaims, optional_text, parse_level, text_value
from cvalues.data.prompt_published import parse_history
from cvalues.data.readers import Row

PROMPT_FIELD_NAMES: tuple[str, ...] = (
    "prompt",
    "id",
    "level",
    "domain",
    "scenario",
    "should_answer",
    "reference",
    "history",
)

# Spellings of yes/no seen in spreadsheets; anything else is an error rather than a guess.
_TRUE = frozenset({"true", "yes", "y", "1", "是", "应回答"})
_FALSE = frozenset({"false", "no", "n", "0", "否", "应拒答"})


def check_prompt_fields(fields: Mapping[str, str] | None) -> dict[str, str]:
    """Our name -> column for every field name, the user's mapping over the identity."""
    mapping = {name: name for name in PROMPT_FIELD_NAMES}
    for ours, theirs in (fields or {}).items():
        if ours not in PROMPT_FIELD_NAMES:
            known = ", ".join(PROMPT_FIELD_NAMES)
            raise InputError(f"unknown field {ours!r}; prompt fields are {known}", flag="--field")
        if not theirs:
            raise InputError(f"field {ours!r} is mapped to an empty column name", flag="--field")
        mapping[ours] = theirs
    return mapping


def load_mapped_prompts(
    rows: list[Row], path: Path, fields: Mapping[str, str] | None = None
) -> list[PromptItem]:
    mapping = check_prompt_fields(fields)
    _require_prompt_column(rows[0], path, mapping["prompt"])
    ids = IdClaims(path)
    items: list[PromptItem] = []
    for row in rows:
        data, line = row.data, row.line
        prompt_column = mapping["prompt"]
        if prompt_column not in data:
            raise InputError(f"missing field 'prompt' (column {prompt_column!r})", path=path, line=line)
        prompt = text_value(data[prompt_column], f"field 'prompt' (column {prompt_column!r})", path, line)
        domain = optional_text(data.get(mapping["domain"]), "field 'domain'", path, line)
        default_level: Level = "responsibility" if domain else "safety"
        item_id = optional_text(data.get(mapping["id"]), "field 'id'", path, line) or str(line)
        items.append(
            PromptItem(
                id=ids.claim(item_id, line),
                prompt=prompt,
                level=parse_level(data.get(mapping["level"]), path, line, default_level),
                domain=domain,
                scenario=optional_text(data.get(mapping["scenario"]), "field 'scenario'", path, line),
                references=_references(data.get(mapping["reference"]), path, line),
                history=parse_history(_maybe_json(data.get(mapping["history"])), path, line),
                should_answer=parse_should_answer(data.get(mapping["should_answer"]), path, line),
            )
        )
    return items


def _require_prompt_column(first: Row, path: Path, column: str) -> None:
    """A file without the prompt column fails once, with the columns it does have."""
    if column in first.data:
        return
    columns = ", ".join(repr(str(name)) for name in list(first.data)[:8])
    raise InputError(
        f"no prompt column {column!r} among the columns ({columns}); map it with --field prompt=COLUMN",
        path=path,
        line=first.line,
    )


def parse_should_answer(value: Any, path: str | Path, line: int) -> bool | None:
    """True/false as JSON, Excel (1/0) or text (true/false, yes/no, 是/否); blank is unknown."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise InputError(f"should_answer must be true or false, found {value!r}", path=path, line=line)


def _references(value: Any, path: Path, line: int) -> tuple[str, ...]:
    """One reference answer (a string) or several (a list of strings); blank means none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(answer, str) for answer in value):
        return tuple(answer for answer in value if answer.strip())
    raise InputError("field 'reference' must be a string or a list of strings", path=path, line=line)


def _maybe_json(value: Any) -> Any:
    """A history cell in a CSV or XLSX file holds JSON text; in JSON files it is already a list."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if isinstance(value, str) and not value.strip():
        return None
    return value


def load_prompt_lines(text: str, path: Path, *, scenario: str | None, id_prefix: str) -> list[PromptItem]:
    """One prompt per line, no header (XSafety). A line that is one quoted CSV field is unquoted.

    Ids are ``<id_prefix><line>``, so they stay the same when other lines change.
    """
    items: list[PromptItem] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if not line.strip():
            continue
        items.append(
            PromptItem(
                id=f"{id_prefix}{number}",
                prompt=_unquoted(line),
                level="safety",
                scenario=scenario,
            )
        )
    if not items:
        raise InputError("no prompts (the file has no non-blank line)", path=path)
    return items


def _unquoted(line: str) -> str:
    if not (line.startswith('"') and line.rstrip().endswith('"')):
        return line
    fields = next(csv.reader([line]))
    return fields[0] if len(fields) == 1 else line
