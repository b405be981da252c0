"""One grammar for task ids and one range for row ids, everywhere: ``annotate add-task``,
``annotate import``, ``annotate export`` and every URL.

A task id becomes a URL segment and, in ``annotate export``, a file name: so it is letters (any
script, Chinese included), digits, ``_``, ``-`` and ``.``, 1-64 characters, starting with a letter,
digit or ``_`` — never a path (``../../tmp/x``), a hidden file or a control character. Row ids
(item, position, turn) must fit a signed 64-bit integer; anything else is "no such page" (404),
never a database overflow (500).
"""

from __future__ import annotations

import re

from cvalues.annotate.user_errors import UserInputError

TASK_ID_PATTERN = r"^[^\W][\w.\-]{0,63}$"
_TASK_ID = re.compile(TASK_ID_PATTERN)
MAX_ROW_ID = 2**63 - 1


def is_task_id(value: str) -> bool:
    return bool(_TASK_ID.fullmatch(value))


def check_task_id(value: str, **where: object) -> str:
    """``value`` if it is a valid task id, else ``InputError`` (``where``: flag, path, line)."""
    if not is_task_id(value):
        raise UserInputError("task_id_rule", value=repr(value[:80]), **where)  # type: ignore[arg-type]
    return value

