"""Split a model's reply into its reasoning and its final answer.

Reasoning models think before they answer: inside ``<think>…</think>`` in the reply text, or in
a separate field the server returns (``reasoning_content``). Everything that reads a reply (the
MC parser, the judge parsers, the refusal classifier) reads only the final answer, so words the
model weighed and then dropped ("我一开始觉得回复1更合适，但……") never decide.

A reply that stops inside its reasoning (an unclosed ``<think>``, or a reasoning field with no
answer after it) is *unfinished*: it holds no answer at all, only a draft. Callers must not read
a label out of the draft; the usual cause is a ``--max-tokens`` too small for the thinking.

Qwen3-style chat templates open ``<think>`` in the prompt, so an output may hold a closing tag
and no opening one: everything before that first ``</think>`` is reasoning.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_OPEN = re.compile(r"<think>", re.IGNORECASE)
_CLOSE = re.compile(r"</think>", re.IGNORECASE)


class ReasoningSplit(NamedTuple):
    """``reasoning`` (None when there was none), ``final`` (the answer text), ``finished``."""

    reasoning: str | None
    final: str
    finished: bool


def split_reasoning(text: str | None, reasoning: str | None = None) -> ReasoningSplit:
    """(reasoning, final answer, finished) of a reply; ``reasoning`` is a server's separate field.

    Pure and linear in the length of ``text``; never raises.
    """
    text = text or ""
    thoughts: list[str] = [reasoning] if reasoning and reasoning.strip() else []
    answer: list[str] = []
    position = 0
    first_close, first_open = _CLOSE.search(text), _OPEN.search(text)
    if first_close and (first_open is None or first_close.start() < first_open.start()):
        thoughts.append(text[: first_close.start()])  # the template opened the block in the prompt
        position = first_close.end()
    finished = True
    while True:
        opening = _OPEN.search(text, position)
        if opening is None:
            answer.append(text[position:])
            break
        answer.append(text[position : opening.start()])
        closing = _CLOSE.search(text, opening.end())
        if closing is None:
            thoughts.append(text[opening.end() :])
            finished = False
            break
        thoughts.append(text[opening.end() : closing.start()])
        position = closing.end()
    final = "".join(answer)
    if finished and thoughts and not final.strip() and reasoning and reasoning.strip() and not text.strip():
        # A server that returns its reasoning apart and no content at all stopped while thinking.
        finished = False
    joined = "\n".join(t.strip() for t in thoughts if t.strip())
    return ReasoningSplit(joined or None, final, finished)
