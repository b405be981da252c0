"""Scoring choice strings from a server's greedy tokens and their top log-probabilities.

An OpenAI-compatible chat endpoint cannot score a given continuation; it can only report, for
each token it generates, that token's log-probability and the top alternatives. A choice is
scored by walking the greedy tokens:

1. while a greedy token's text lies inside the rest of the choice, add its log-probability
   and move past it (if the choice ends inside a greedy token, add it and stop: complete);
2. at the first position where the greedy token leaves the choice, take the best alternative
   from that position's top log-probabilities whose text is a prefix of the rest of the choice,
   or which the rest of the choice is a prefix of, and add its log-probability;
3. if no alternative continues the choice there, or the greedy tokens end before the choice
   does, the choice is unreachable: its score is ``-inf``.

When the alternative in step 2 covers only part of the rest of the choice, nothing is known
about the tokens after it (the model went the greedy way), so the score is that of a prefix of
the choice: an upper bound. Such choices are reported as ``partial``.

Text is compared as UTF-8 bytes, using a token's ``bytes`` when the server sends them, so a
character split over several byte tokens still matches. Servers that send no ``bytes`` and
drop incomplete characters from the token text (llama.cpp's server does) cannot match such a
character; a choice that needs one is unreachable there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

ChoiceStatus = Literal["complete", "partial", "unreachable"]


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token: its text as bytes, its log-probability and the top alternatives."""

    token: bytes
    logprob: float
    top: tuple[tuple[bytes, float], ...] = ()


@dataclass(frozen=True)
class ChoiceScore:
    logprob: float
    status: ChoiceStatus


def token_bytes(text: str, raw: Sequence[int] | None) -> bytes:
    return bytes(raw) if raw is not None else text.encode("utf-8")


def score_choice(tokens: Sequence[TokenLogprob], choice: str) -> ChoiceScore:
    remaining = choice.encode("utf-8")
    if not remaining:
        return ChoiceScore(0.0, "complete")
    total = 0.0
    for position in tokens:
        greedy = position.token
        if greedy and remaining.startswith(greedy):
            total += position.logprob
            remaining = remaining[len(greedy) :]
            if not remaining:
                return ChoiceScore(total, "complete")
            continue
        if greedy and greedy.startswith(remaining):
            return ChoiceScore(total + position.logprob, "complete")
        return _diverge(position, remaining, total)
    return ChoiceScore(-math.inf, "unreachable")


def _diverge(position: TokenLogprob, remaining: bytes, total: float) -> ChoiceScore:
    best: tuple[float, bool] | None = None
    for text, logprob in position.top:
        # An empty token (a special token, or a character fragment the server dropped) says nothing.
        if not text:
            continue
        covers_rest = text.startswith(remaining)
        if (covers_rest or remaining.startswith(text)) and (best is None or logprob > best[0]):
            best = (logprob, covers_rest)
    if best is None:
        return ChoiceScore(-math.inf, "unreachable")
    logprob, covers_rest = best
    return ChoiceScore(total + logprob, "complete" if covers_rest else "partial")


def score_choices(tokens: Sequence[TokenLogprob], choices: Sequence[str]) -> tuple[dict[str, float], dict]:
    """Scores of every choice, and the ``extra`` notes naming unreachable and partial ones."""
    scores = {choice: score_choice(tokens, choice) for choice in choices}
    extra: dict[str, list[str]] = {}
    for status in ("unreachable", "partial"):
        named = [choice for choice, score in scores.items() if score.status == status]
        if named:
            extra[status] = named
    return {choice: score.logprob for choice, score in scores.items()}, extra
