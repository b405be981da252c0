"""Scoring choice strings from a server's greedy tokens and their top log-probabilities.

An OpenAI-compatible chat endpoint cannot score a given continuation; it can only report, for
each token it generates, that token's log-probability and the top alternatives. A choice is
scored by walking the greedy tokens from a start position:

1. while a greedy token's text lies inside the rest of the choice, add its log-probability
   and move past it (if the choice ends inside a greedy token, add it and stop: complete);
2. at the first position where the greedy token leaves the choice, take the best alternative
   from that position's top log-probabilities whose text is a prefix of the rest of the choice,
   or which the rest of the choice is a prefix of, and add its log-probability;
3. if no alternative continues the choice there, or the greedy tokens end before the choice
   does, the choice is unreachable: its score is ``None`` (never ``-inf``, which JSON stores
   such as PostgreSQL's reject).

When the alternative in step 2 covers only part of the rest of the choice, nothing is known
about the tokens after it (the model went the greedy way), so the score is that of a prefix of
the choice: an upper bound. Such choices are reported as ``partial``.

Only the tokens where the choices differ rank them. Choices such as "回复1" / "回复2" share the
prefix "回复"; a choice counts as *found* only when its score reaches past that shared prefix
(an alternative "回" at the first token says nothing about 1 versus 2). ``score_choices`` walks
from the first token; when that finds fewer than two choices (the model wrote prose first:
"我认为回复1……"), it looks for the first later token where the greedy path spells the shared
prefix and the top log-probabilities there continue at least two choices, and reports that
token's index as ``answer_offset``: the scores are then conditional on the prose before it.
Without a shared prefix there is nothing to anchor on, and only the first token is tried.

Text is compared as UTF-8 bytes, using a token's ``bytes`` when the server sends them (exact).
Servers that send no ``bytes`` and drop incomplete characters from the token text (llama.cpp's
server returns ``""`` for each byte-level piece of "复") give *opaque* tokens. Assumption: a run
of consecutive opaque greedy tokens spells exactly one not-yet-matched non-ASCII character of
the choice (the one at the walk's position), and has at most as many tokens as that character
has bytes. That holds for byte-level BPE vocabularies, where a character missing from the
vocabulary is split into byte pieces, as long as two such characters are not adjacent in the
choice. Opaque alternatives cannot be matched and are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

ChoiceStatus = Literal["complete", "partial", "unreachable"]
REPLACEMENT_CHARACTER = "\ufffd"  # what some servers put in a token's text for a partial character


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token: its text as bytes (``None`` or empty when the server did not say which
    bytes: an opaque fragment of a character), its log-probability and the top alternatives."""

    token: bytes | None
    logprob: float
    top: tuple[tuple[bytes, float], ...] = ()


@dataclass(frozen=True)
class ChoiceScore:
    """``logprob`` is ``None`` when unreachable; ``covered`` counts the choice's bytes it accounts for."""

    logprob: float | None
    status: ChoiceStatus
    covered: int = 0


def token_bytes(text: str, raw: Sequence[int] | None) -> bytes | None:
    """A token's exact bytes when the server sends them; otherwise its text, or ``None`` when the
    text is empty or undecodable (a fragment of a character the server could not show)."""
    if raw is not None:
        return bytes(raw)
    if not text or REPLACEMENT_CHARACTER in text:
        return None
    return text.encode("utf-8")


def score_choice(tokens: Sequence[TokenLogprob], choice: str, start: int = 0) -> ChoiceScore:
    """The walk above for one choice, from the greedy token at index ``start``."""
    target = choice.encode("utf-8")
    if not target:
        return ChoiceScore(0.0, "complete")
    cursor, total, index = 0, 0.0, start
    while index < len(tokens):
        position = tokens[index]
        greedy = position.token
        if not greedy:
            run_end = _opaque_run_end(tokens, index)
            char_end = _non_ascii_char_end(target, cursor)
            if char_end is None or run_end - index > char_end - cursor:
                return _diverge(position, target, cursor, total)
            total += sum(t.logprob for t in tokens[index:run_end])
            cursor, index = char_end, run_end
        elif target.startswith(greedy, cursor):
            total += position.logprob
            cursor, index = cursor + len(greedy), index + 1
        elif greedy.startswith(target[cursor:]):
            return ChoiceScore(total + position.logprob, "complete", len(target))
        else:
            return _diverge(position, target, cursor, total)
        if cursor == len(target):
            return ChoiceScore(total, "complete", len(target))
    return ChoiceScore(None, "unreachable", cursor)


def score_choices(
    tokens: Sequence[TokenLogprob], choices: Sequence[str]
) -> tuple[dict[str, float | None], dict[str, Any]]:
    """Scores of every choice (``None``: unreachable), and the ``extra`` notes: the choices that are
    ``unreachable`` or ``partial``, and ``answer_offset`` when the answer was found after prose."""
    shared = len(shared_prefix(choices).encode("utf-8")) if len(choices) > 1 else 0
    wanted = min(2, len(choices))
    starts = _starts(tokens) if shared else [0]
    chosen: tuple[int, dict[str, ChoiceScore], list[str]] | None = None
    for start in starts:
        scores = {choice: score_choice(tokens, choice, start) for choice in choices}
        found = [choice for choice, score in scores.items() if _reaches_past(score, shared)]
        if len(found) >= wanted:
            chosen = (start, scores, found)
            break
        if found and chosen is None:
            chosen = (start, scores, found)  # one choice found beats none: it wins against None
    if chosen is None:
        return {choice: None for choice in choices}, {"unreachable": list(choices)}
    start, scores, found = chosen
    logprobs = {choice: scores[choice].logprob if choice in found else None for choice in choices}
    extra: dict[str, Any] = {}
    unreachable = [choice for choice in choices if choice not in found]
    partial = [choice for choice in found if scores[choice].status == "partial"]
    if unreachable:
        extra["unreachable"] = unreachable
    if partial:
        extra["partial"] = partial
    if start:
        extra["answer_offset"] = start
    return logprobs, extra


def shared_prefix(choices: Sequence[str]) -> str:
    """The characters every choice starts with (whole characters, so never half of a UTF-8 one)."""
    if not choices:
        return ""
    shortest = min(choices, key=len)
    for length, char in enumerate(shortest):
        if any(choice[length] != char for choice in choices):
            return shortest[:length]
    return shortest


def _reaches_past(score: ChoiceScore, shared: int) -> bool:
    """Whether the score says anything about what distinguishes the choice from the others."""
    return score.status == "complete" or (score.status == "partial" and score.covered > shared)


def _starts(tokens: Sequence[TokenLogprob]) -> list[int]:
    # A walk cannot start inside a run of opaque tokens: that is the middle of a character.
    return [i for i in range(len(tokens)) if i == 0 or tokens[i].token or tokens[i - 1].token]


def _opaque_run_end(tokens: Sequence[TokenLogprob], index: int) -> int:
    end = index
    while end < len(tokens) and not tokens[end].token:
        end += 1
    return end


def _non_ascii_char_end(target: bytes, cursor: int) -> int | None:
    """Where the non-ASCII character at ``cursor`` ends, or None when there is none there.

    ``cursor`` may sit inside the character when a token's text kept its first bytes."""
    if cursor >= len(target) or target[cursor] < 0x80:
        return None
    end = cursor + 1
    while end < len(target) and 0x80 <= target[end] < 0xC0:  # UTF-8 continuation bytes
        end += 1
    return end


def _diverge(position: TokenLogprob, target: bytes, cursor: int, total: float) -> ChoiceScore:
    remaining = target[cursor:]
    best: tuple[float, bytes] | None = None
    for text, logprob in position.top:
        if not text:  # an opaque alternative (or a special token) says nothing
            continue
        if (text.startswith(remaining) or remaining.startswith(text)) and (best is None or logprob > best[0]):
            best = (logprob, text)
    if best is None:
        return ChoiceScore(None, "unreachable", cursor)
    logprob, text = best
    if text.startswith(remaining):
        return ChoiceScore(total + logprob, "complete", len(target))
    return ChoiceScore(total + logprob, "partial", cursor + len(text))
