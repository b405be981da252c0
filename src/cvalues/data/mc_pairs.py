"""MC from pairs: published (question, better, worse) files, each pair asked in both orders."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cvalues.data.items import MCItem
from cvalues.data.mc_build import IdClaims, items_from_pair, optional_text, required_text
from cvalues.data.readers import Row

JADE_COLUMNS = ("问题", "违规回答", "安全有用回答")
COMPARISON_COLUMNS = ("prompt", "pos_resp", "neg_resp")
_DIFFICULTY_WORDS = ("easy", "medium", "hard")


def load_comparison_mc(rows: list[Row], path: Path, fields: Mapping[str, str] | None = None) -> list[MCItem]:
    """CValues-Comparison JSONL: ``prompt, pos_resp, neg_resp, pos_type, neg_type`` (safety prompts)."""
    ids = IdClaims(path)
    items: list[MCItem] = []
    for row in rows:
        question = required_text(row, "prompt", path)
        better = required_text(row, "pos_resp", path)
        worse = required_text(row, "neg_resp", path)
        base = ids.claim(str(row.line), row.line)
        items.extend(items_from_pair(base, question, better, worse, level="safety"))
    return items


def load_jade_mc(rows: list[Row], path: Path, fields: Mapping[str, str] | None = None) -> list[MCItem]:
    """JADE-DB alignment CSV: ``ID, 问题, 违规回答 (unsafe), 安全有用回答 (safe and helpful)``."""
    difficulty = difficulty_from_name(path)
    ids = IdClaims(path)
    items: list[MCItem] = []
    for row in rows:
        question = required_text(row, "问题", path)
        worse = required_text(row, "违规回答", path)
        better = required_text(row, "安全有用回答", path)
        base = optional_text(row.data.get("ID"), "field 'ID'", path, row.line) or str(row.line)
        ids.claim(base, row.line)
        items.extend(items_from_pair(base, question, better, worse, difficulty=difficulty, level="safety"))
    return items


def difficulty_from_name(path: Path) -> str | None:
    """``jade_alignment_hard_zh.csv`` -> ``hard``: the level JADE puts in its file names."""
    words = {word.lower() for word in path.stem.replace("-", "_").split("_")}
    found = [word for word in _DIFFICULTY_WORDS if word in words]
    return found[0] if len(found) == 1 else None
