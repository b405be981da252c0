"""What computed a run's answers, from its responses' ``extra``: for a results file to say it.

The transformers backend records per response the ``engine`` (``fast`` / ``plain``, with an
``engine_reason`` when plain), the ``choice_path`` of a scored item (``one-pass`` / ``exact``)
and the ``dtype`` the weights ran in. ``path_counts`` tallies them across a run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

PATH_KEYS = ("engine", "engine_reason", "choice_path", "dtype")


def path_counts(extras: Iterable[Mapping[str, Any] | None]) -> dict[str, dict[str, int]]:
    """``{"engine": {"fast": 60, "plain": 4}, "choice_path": {"one-pass": 64}, ...}``; keys no
    response recorded are left out."""
    counts: dict[str, dict[str, int]] = {}
    for extra in extras:
        for key in PATH_KEYS:
            value = (extra or {}).get(key)
            if value is not None:
                tally = counts.setdefault(key, {})
                tally[str(value)] = tally.get(str(value), 0) + 1
    return counts
