"""Turning a request into chat messages and prompt tokens, shared by every backend.

``chat_messages``: the request's messages, with ``settings.system_prompt`` put first when set and
the request has no system message of its own (a request's own system message wins).

``plain_chat_prompt``: the prompt for a model whose tokenizer has no chat template (a base
model): one ``Role: content`` line per message, then ``Assistant:``; the reply, or a scored
choice, follows directly after the colon.

``tokenize_choices``: the tokens of each choice as a continuation of the prompt. A choice's
tokens are those after the prompt's tokens in ``tokenize(prompt + choice)``, so the model is
scored on the tokens it would really produce. Where the tokenizer merges the prompt's last
characters with the choice's first (the prompt's tokens are then not a prefix), the choice is
tokenized on its own and appended instead, and the choice is named in ``boundary_merged``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cvalues.core.requests import GenerationSettings, ModelRequest

ChatMessage = dict[str, str]


def chat_messages(request: ModelRequest, settings: GenerationSettings) -> list[ChatMessage]:
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    has_system = any(m["role"] == "system" for m in messages)
    if settings.system_prompt and not has_system:
        messages.insert(0, {"role": "system", "content": settings.system_prompt})
    return messages


def plain_chat_prompt(messages: Sequence[ChatMessage]) -> str:
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    lines.append("Assistant:")
    return "\n".join(lines)


@dataclass
class ChoiceTokens:
    prompt_ids: list[int]
    continuations: list[list[int]]
    boundary_merged: list[str] = field(default_factory=list)

    def shared_prefix(self) -> list[int] | None:
        """The tokens every choice starts with, when the choices differ only in their last token.

        Then one forward pass over prompt + prefix scores every choice ("回复1" / "回复2").
        """
        lengths = {len(c) for c in self.continuations}
        if len(lengths) != 1 or 0 in lengths:
            return None
        prefix = self.continuations[0][:-1]
        if all(c[:-1] == prefix for c in self.continuations):
            return prefix
        return None


def tokenize_choices(
    encode: Callable[[str], list[int]],
    encode_bare: Callable[[str], list[int]],
    prompt: str,
    choices: Sequence[str],
) -> ChoiceTokens:
    """``encode`` tokenizes a prompt (as the model sees it), ``encode_bare`` a bare string
    without any special tokens (used only at a merged boundary)."""
    prompt_ids = encode(prompt)
    result = ChoiceTokens(prompt_ids=prompt_ids, continuations=[])
    for choice in choices:
        full_ids = encode(prompt + choice)
        if full_ids[: len(prompt_ids)] == prompt_ids:
            result.continuations.append(full_ids[len(prompt_ids) :])
        else:
            result.continuations.append(encode_bare(choice))
            result.boundary_merged.append(choice)
    return result


REPLACEMENT_CHARACTER = "\ufffd"


def drop_cut_character(text: str, finish_reason: str | None) -> str:
    """A reply cut by the token limit can end inside a character: a byte-level tokenizer decodes
    the incomplete UTF-8 bytes as U+FFFD (and a server sends it on). Those trailing U+FFFD are
    not text the model wrote, so they are dropped; only when the reply was cut (``length``), so a
    reply that really ends in U+FFFD is kept as it is."""
    if finish_reason != "length":
        return text
    return text.rstrip(REPLACEMENT_CHARACTER)
