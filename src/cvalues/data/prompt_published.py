"""Loaders for the published free-form prompt sets, each read as its authors ship it.

Every loader takes the rows of one file (see ``data/readers``) and returns ``PromptItem``s with
the level and the domain or scenario the set defines. Where a set has a category and a
subcategory and ``PromptItem`` has one ``scenario`` field, both are kept as ``"类别/子类"``
(``SCENARIO_SEPARATOR``); ``scenario_top`` gives the first part back for coarse breakdowns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cvalues.core.errors import InputError
from cvalues.data.items import PromptItem
from cvalues.data.mc_build import IdClaims, optional_text, required_text, text_value
from cvalues.data.mc_pairs import difficulty_from_name
from cvalues.data.readers import Row

SCENARIO_SEPARATOR = "/"

# CHiSafetyBench's group category for prompts a model should decline.
CHISAFETY_REFUSE = "应拒答"
_ROLES = ("system", "user", "assistant")


def scenario_top(scenario: str | None) -> str | None:
    """``"违法犯罪/诈骗"`` -> ``"违法犯罪"``: the category part of a combined scenario."""
    return None if scenario is None else scenario.split(SCENARIO_SEPARATOR, 1)[0]


def _joined(category: str | None, sub: str | None) -> str | None:
    parts = [part for part in (category, sub) if part]
    return SCENARIO_SEPARATOR.join(parts) or None


def load_cvalues_prompts(
    rows: list[Row], path: Path, fields: Mapping[str, str] | None = None
) -> list[PromptItem]:
    """Official CValues responsibility prompts: ``id_, prompt, domain_en, domain_zh``."""
    ids = IdClaims(path)
    items: list[PromptItem] = []
    for row in rows:
        item_id = optional_text(row.data.get("id_"), "field 'id_'", path, row.line) or str(row.line)
        items.append(
            PromptItem(
                id=ids.claim(item_id, row.line),
                prompt=required_text(row, "prompt", path),
                level="responsibility",
                domain=optional_text(row.data.get("domain_en"), "field 'domain_en'", path, row.line),
            )
        )
    return items


def load_100poison(rows: list[Row], path: Path, fields: Mapping[str, str] | None = None) -> list[PromptItem]:
    """100PoisonMpts: ``instruction`` (prompt), ``output`` (expert answer), ``domain`` (last: English)."""
    items: list[PromptItem] = []
    for row in rows:
        domain_list = row.data.get("domain")
        if not isinstance(domain_list, list) or not domain_list:
            raise InputError("field 'domain' must be a non-empty list", path=path, line=row.line)
        domain = optional_text(domain_list[-1], "the last item of 'domain'", path, row.line)
        answer = row.data.get("output")
        references = (text_value(answer, "field 'output'", path, row.line),) if answer else ()
        items.append(
            PromptItem(
                id=str(row.line),
                prompt=required_text(row, "instruction", path),
                level="responsibility",
                domain=domain,
                references=references,
            )
        )
    return items


def load_jade_benchmark(
    rows: list[Row], path: Path, fields: Mapping[str, str] | None = None
) -> list[PromptItem]:
    """JADE-DB benchmark CSV: ``ID, 问题, 违规类型, 违规子类`` -> scenario ``违规类型/违规子类``."""
    ids = IdClaims(path)
    items: list[PromptItem] = []
    for row in rows:
        item_id = optional_text(row.data.get("ID"), "field 'ID'", path, row.line) or str(row.line)
        kind = optional_text(row.data.get("违规类型"), "field '违规类型'", path, row.line)
        sub = optional_text(row.data.get("违规子类"), "field '违规子类'", path, row.line)
        items.append(
            PromptItem(
                id=ids.claim(item_id, row.line),
                prompt=required_text(row, "问题", path),
                level="safety",
                scenario=_joined(kind, sub),
            )
        )
    return items


def load_jade_alignment(
    rows: list[Row], path: Path, fields: Mapping[str, str] | None = None
) -> list[PromptItem]:
    """JADE-DB alignment CSV as prompts: ``问题``, with ``安全有用回答`` (safe and helpful) as reference.

    The difficulty in the file name (hard, medium) becomes the scenario, the only place a
    PromptItem can keep it.
    """
    ids = IdClaims(path)
    difficulty = difficulty_from_name(path)
    items: list[PromptItem] = []
    for row in rows:
        item_id = optional_text(row.data.get("ID"), "field 'ID'", path, row.line) or str(row.line)
        items.append(
            PromptItem(
                id=ids.claim(item_id, row.line),
                prompt=required_text(row, "问题", path),
                level="safety",
                scenario=difficulty,
                references=(required_text(row, "安全有用回答", path),),
            )
        )
    return items


def load_flames(rows: list[Row], path: Path, fields: Mapping[str, str] | None = None) -> list[PromptItem]:
    """Flames: ``dimension, subcomponent, prompt`` -> scenario ``dimension/subcomponent``."""
    items: list[PromptItem] = []
    for row in rows:
        dimension = optional_text(row.data.get("dimension"), "field 'dimension'", path, row.line)
        sub = optional_text(row.data.get("subcomponent"), "field 'subcomponent'", path, row.line)
        items.append(
            PromptItem(
                id=str(row.line),
                prompt=required_text(row, "prompt", path),
                level="safety",
                scenario=_joined(dimension, sub),
            )
        )
    return items


def load_chisafety(
    rows: list[Row], path: Path, fields: Mapping[str, str] | None = None, *, text: str = ""
) -> list[PromptItem]:
    """CHiSafetyBench without history: ``[{category, infos: [{id, question, category}]}]``.

    The group category 应拒答 ("should be refused") sets ``should_answer=False``; the item's own
    category is the scenario. ``text`` (the decoded file) lets errors name the line of the item.
    """
    total = sum(len(row.data["infos"]) for row in rows if isinstance(row.data.get("infos"), list))
    info_lines = _question_lines(text)
    if len(info_lines) != total:
        info_lines = []  # lines are found from '"question":' keys; a different count means they would be off
    ids = IdClaims(path)
    items: list[PromptItem] = []
    index = 0
    for row in rows:
        group = optional_text(row.data.get("category"), "field 'category'", path, row.line)
        infos = row.data.get("infos")
        if not isinstance(infos, list):
            raise InputError("field 'infos' must be a list", path=path, line=row.line)
        should_answer = False if group == CHISAFETY_REFUSE else None
        for position, info in enumerate(infos):
            line = info_lines[index] if info_lines else row.line
            index += 1
            if not isinstance(info, dict):
                raise InputError(f"infos[{position}] must be an object", path=path, line=line)
            item_id = optional_text(info.get("id"), "field 'id'", path, line) or f"{row.line}-{position}"
            items.append(
                PromptItem(
                    id=ids.claim(item_id, line),
                    prompt=required_text(Row(line, info), "question", path),
                    level="safety",
                    scenario=optional_text(info.get("category"), "field 'category'", path, line) or group,
                    should_answer=should_answer,
                )
            )
    return items


def load_chisafety_history(
    rows: list[Row], path: Path, fields: Mapping[str, str] | None = None
) -> list[PromptItem]:
    """CHiSafetyBench with history: ``category, sub_category, history [{role, content}], input``.

    These are risky questions asked after a few turns, so ``should_answer=False`` as for the
    single-turn set. The history keeps every turn, its system turn included.
    """
    items: list[PromptItem] = []
    for number, row in enumerate(rows, start=1):
        category = optional_text(row.data.get("category"), "field 'category'", path, row.line)
        sub = optional_text(row.data.get("sub_category"), "field 'sub_category'", path, row.line)
        items.append(
            PromptItem(
                id=str(number),
                prompt=required_text(row, "input", path),
                level="safety",
                scenario=_joined(category, sub),
                history=parse_history(row.data.get("history"), path, row.line),
                should_answer=False,
            )
        )
    return items


def parse_history(value: Any, path: str | Path, line: int) -> tuple[tuple[str, str], ...]:
    """Turns before the prompt: a list of ``{role, content}`` objects or ``[role, content]`` pairs."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InputError("field 'history' must be a list of turns", path=path, line=line)
    turns: list[tuple[str, str]] = []
    for position, turn in enumerate(value):
        where = f"history[{position}]"
        if isinstance(turn, dict):
            role, content = turn.get("role"), turn.get("content")
        elif isinstance(turn, list | tuple) and len(turn) == 2:
            role, content = turn
        else:
            raise InputError(f"{where} must be {{role, content}} or [role, content]", path=path, line=line)
        if role not in _ROLES:
            raise InputError(
                f"{where} has role {role!r}; use system, user or assistant", path=path, line=line
            )
        if not isinstance(content, str):
            raise InputError(f"{where} content must be a string", path=path, line=line)
        turns.append((role, content))
    return tuple(turns)


# '"question":' as a key, not inside a string (where its quotes would be escaped).
_QUESTION_KEY = re.compile(r'(?<!\\)"question"\s*:')


def _question_lines(text: str) -> list[int]:
    """The line of every ``"question":`` key, in order: the line of each CHiSafetyBench item."""
    lines: list[int] = []
    line, counted_to = 1, 0
    for match in _QUESTION_KEY.finditer(text):
        line += text.count("\n", counted_to, match.start())
        counted_to = match.start()
        lines.append(line)
    return lines
