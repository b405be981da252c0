"""The normal form two copies of a text share, for exact and near-duplicate checks."""

from __future__ import annotations

import re
import unicodedata

_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """NFKC, no whitespace or punctuation: what makes two copies of a text the same copy."""
    return _NOISE.sub("", unicodedata.normalize("NFKC", text))
