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
