"""Flag parsing shared by command groups."""

from __future__ import annotations

from cvalues.core.errors import InputError


def parse_field_mapping(values: list[str] | None, flag: str = "--field") -> dict[str, str]:
    """``--field question=问题 --field better=安全有用回答`` -> {"question": "问题", ...}."""
    mapping: dict[str, str] = {}
    for value in values or []:
        ours, sep, theirs = value.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise InputError(f"expected NAME=COLUMN, got {value!r}", flag=flag)
        mapping[ours.strip()] = theirs.strip()
    return mapping


# The options that say how a user's own MC file is read, shared by `mc`, `mc score` and `datasets`.
LEVEL_HELP = (
    "The level the items measure, safety or responsibility, for a file without a level column "
    "(required then; a row's own level wins)."
)
ANSWERS_HELP = (
    "A separate answer key joined to the items by id: a JSON object {id: answer or {answer: …}}, "
    "or a JSONL/CSV with id and answer columns (names from --field id=/answer=)."
)
ANSWER_BASE_HELP = (
    "How a numeric answer or label counts: 0 (0 = the first option) or 1 (1 = the first option). "
    "Required when answers are numbers; letters (A, B, …) need none."
)
FIELD_NAMES_HELP = (
    "Map a column of your file: --field question=问题 (repeatable; names: question, options "
    "(a list column, or options=COL1,COL2,…), answer, context, reply1, reply2, label, better, worse, "
    "id, domain, difficulty, scenario, level)."
)


def parse_answer_base(value: int | None) -> int | None:
    if value is not None and value not in (0, 1):
        raise InputError(f"must be 0 or 1, got {value}", flag="--answer-base")
    return value
