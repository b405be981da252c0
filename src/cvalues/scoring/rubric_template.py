"""The placeholder syntax of rubric prompts: values, and blocks kept only when a value exists.

- ``{name}`` is replaced by the value of ``name`` (one of ``PLACEHOLDERS``).
- ``{?name}…{/name}`` is kept only when ``name`` has a non-blank value, and dropped otherwise:
  how a rubric includes a reference-answer section only for items that have one. A block tag alone
  on its line is removed with its line (as in Mustache), so a dropped block leaves no blank line.
  Blocks do not nest.

Other braces are text, so JSON examples (``{"score": 7}``) need no escaping; only a bare
identifier in braces is read as a placeholder, and an unknown one is an error, to catch typos.
Values are inserted in one pass, so a reply that contains ``{prompt}`` stays as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDERS: tuple[str, ...] = (
    "prompt",
    "response",
    "reference",
    "domain",
    "response_a",
    "response_b",
    "history",
)

_TOKEN = re.compile(r"\{([?/]?)([A-Za-z_][A-Za-z0-9_]*)\}")
_BLOCK = re.compile(r"\{\?([A-Za-z_][A-Za-z0-9_]*)\}(.*?)\{/\1\}", re.DOTALL)
_STANDALONE_TAG = re.compile(r"^[ \t]*(\{[?/][A-Za-z_][A-Za-z0-9_]*\})[ \t]*(?:\n|\Z)", re.MULTILINE)


class TemplateError(ValueError):
    """A malformed template; ``token`` is the text that is wrong, to find its line in the file."""

    def __init__(self, message: str, token: str) -> None:
        super().__init__(message)
        self.token = token


class MissingValue(KeyError):
    """The template needs a value (outside any ``{?name}`` block) that was not given."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def template_names(text: str) -> frozenset[str]:
    """Check ``text``'s placeholders and blocks; return every name it uses (values and blocks)."""
    used: set[str] = set()
    open_block: str | None = None
    for match in _TOKEN.finditer(text):
        kind, name, token = match.group(1), match.group(2), match.group(0)
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + known + "}" for known in PLACEHOLDERS)
            raise TemplateError(f"unknown placeholder {token}; placeholders are {known}", token)
        if kind == "?":
            if open_block is not None:
                raise TemplateError(f"{token} opens a block inside the {{?{open_block}}} block", token)
            open_block = name
        elif kind == "/":
            if open_block != name:
                raise TemplateError(f"{token} closes a block that is not open", token)
            open_block = None
        used.add(name)
    if open_block is not None:
        token = "{?" + open_block + "}"
        raise TemplateError(f"{token} is never closed with {{/{open_block}}}", token)
    return frozenset(used)


def has_value(value: str | None) -> bool:
    return value is not None and bool(value.strip())


def render_template(text: str, values: Mapping[str, str | None]) -> str:
    """Fill a checked template. A value of None is absent: its blocks are dropped, and ``{name}``
    outside them raises ``MissingValue``. An empty string is a value (an empty reply is judged)."""
    tags_inline = _STANDALONE_TAG.sub(r"\1", text)

    def block_of(block: re.Match[str]) -> str:
        return block.group(2) if has_value(values.get(block.group(1))) else ""

    kept = _BLOCK.sub(block_of, tags_inline)

    def value_of(match: re.Match[str]) -> str:
        value = values.get(match.group(2))
        if value is None:
            raise MissingValue(match.group(2))
        return value

    return _TOKEN.sub(value_of, kept)
