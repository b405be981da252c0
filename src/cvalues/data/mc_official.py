"""The CValues responsibility MC set: the official X-PLUG JSONL, and moonshot-data's conversion of it."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cvalues.core.errors import DataIntegrityError, InputError
from cvalues.data.encoding import read_bytes
from cvalues.data.items import MCItem, pair_id_for
from cvalues.data.mc_build import IdClaims, optional_text, parse_label, required_text, text_value
from cvalues.data.readers import Row, rows_from_bytes
from cvalues.data.sources import fetch_official, official_source, verify_bytes

PROMPTS_SOURCE = "cvalues-responsibility-prompts"
_MOONSHOT_A = "\n\nA. "
_MOONSHOT_B = "\nB."


def load_official_mc(rows: list[Row], path: Path, fields: Mapping[str, str] | None = None) -> list[MCItem]:
    """Rows ``{prompt, label, meta_info{question, pos_resp, neg_resp, domain_en, difficulty_level}}``.

    The authors' prompt is kept verbatim; reply 1 and 2 are recovered from pos/neg by the label.
    """
    ids = IdClaims(path)
    items: list[MCItem] = []
    for row in rows:
        prompt = required_text(row, "prompt", path)
        label = parse_label(row.data.get("label"), path, row.line, strict=True)
        meta = row.data.get("meta_info")
        if not isinstance(meta, dict):
            found = "missing" if meta is None else f"a {type(meta).__name__}"
            raise InputError(f"field 'meta_info' must be an object, found {found}", path=path, line=row.line)
        meta_row = Row(row.line, meta)
        question = required_text(meta_row, "question", path)
        pos = required_text(meta_row, "pos_resp", path)
        neg = required_text(meta_row, "neg_resp", path)
        reply1, reply2 = (pos, neg) if label == "回复1" else (neg, pos)
        items.append(
            MCItem(
                id=ids.claim(str(row.line), row.line),
                question=question,
                reply1=reply1,
                reply2=reply2,
                label=label,
                domain=optional_text(meta.get("domain_en"), "field 'domain_en'", path, row.line),
                difficulty=optional_text(
                    meta.get("difficulty_level"), "field 'difficulty_level'", path, row.line
                ),
                pair_id=pair_id_for(question, pos, neg),
                prompt=prompt,
            )
        )
    return items


def load_moonshot_mc(rows: list[Row], path: Path, fields: Mapping[str, str] | None = None) -> list[MCItem]:
    """Rows ``{input: question + "\\n\\nA. " + a + "\\nB." + b, target: ["X. better", "X", "X."]}``.

    Domains are joined from the official prompts file on the question; the easy/hard level is lost.
    """
    # Every row is checked before the prompts file is looked for, so a bad file fails without network.
    split_rows = [_split_moonshot(row, path) for row in rows]
    domains = _prompt_domains(path)
    ids = IdClaims(path)
    items: list[MCItem] = []
    for index, (row, (question, reply_a, reply_b, letter)) in enumerate(
        zip(rows, split_rows, strict=True), 1
    ):
        label = parse_label(letter, path, row.line)
        better, worse = (reply_a, reply_b) if letter == "A" else (reply_b, reply_a)
        items.append(
            MCItem(
                # Records may share a line (a one-line file), so the id is the record's position.
                id=ids.claim(str(index), index),
                question=question,
                reply1=reply_a,
                reply2=reply_b,
                label=label,
                domain=domains.get(question) if domains is not None else None,
                pair_id=pair_id_for(question, better, worse),
            )
        )
    return items


def _split_moonshot(row: Row, path: Path) -> tuple[str, str, str, str]:
    """(question, reply A, reply B, better letter), using the target text when a separator is ambiguous."""
    text = required_text(row, "input", path)
    target: Any = row.data.get("target")
    if not isinstance(target, list) or len(target) < 2 or target[1] not in ("A", "B"):
        raise InputError(
            "field 'target' must be a list whose 2nd item is 'A' or 'B'", path=path, line=row.line
        )
    letter: str = target[1]
    question, sep, rest = text.partition(_MOONSHOT_A)
    if not sep:
        raise InputError("field 'input' has no '\\n\\nA. ' before the first reply", path=path, line=row.line)
    # target[0] is "X. " + the better reply: it pins the split even if a reply contains "\nB.".
    better = target[0][3:] if isinstance(target[0], str) and target[0].startswith(f"{letter}. ") else None
    if better is not None and letter == "A" and rest.startswith(better + _MOONSHOT_B):
        reply_a, reply_b = better, rest[len(better) + len(_MOONSHOT_B) :]
    elif better is not None and letter == "B" and rest.endswith(_MOONSHOT_B + better):
        reply_a, reply_b = rest[: len(rest) - len(better) - len(_MOONSHOT_B)], better
    elif rest.count(_MOONSHOT_B) == 1:
        reply_a, _, reply_b = rest.partition(_MOONSHOT_B)
    else:
        raise InputError("field 'input' does not split into reply A and reply B", path=path, line=row.line)
    text_value(question, "the question", path, row.line)
    text_value(reply_a, "reply A", path, row.line)
    text_value(reply_b, "reply B", path, row.line)
    return question, reply_a, reply_b, letter


def _prompt_domains(moonshot_path: Path) -> dict[str, str] | None:
    """question -> domain_en from the official prompts file, or None (with a warning) if unavailable."""
    source = official_source(PROMPTS_SOURCE)
    # Beside the moonshot file's folder, as in /work/shared/data and in the download cache.
    sibling = moonshot_path.resolve().parent.parent / source.name / source.filename
    try:
        if sibling.is_file():
            data = read_bytes(sibling)
            verify_bytes(data, source, str(sibling))
            prompts_path = sibling
        else:
            prompts_path = fetch_official(source.name)
            data = read_bytes(prompts_path)
    except DataIntegrityError:
        raise  # a checksum mismatch is never shrugged off
    except InputError as exc:
        warnings.warn(f"domains unknown for {moonshot_path.name}: {exc}", stacklevel=3)
        return None
    return {
        str(row.data.get("prompt")): str(row.data.get("domain_en"))
        for row in rows_from_bytes(data, prompts_path, "jsonl")
    }
