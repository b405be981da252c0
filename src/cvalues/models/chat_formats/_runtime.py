"""What a backend needs from a chat format: the spec's format, checked, and the reply cut at a stop string."""

from __future__ import annotations

from collections.abc import Sequence

from cvalues.core.backend import ModelSpec
from cvalues.core.errors import BackendError
from cvalues.models.chat_formats._lookup import AnyChatFormat, load_chat_format


def chat_format_for(spec: ModelSpec) -> AnyChatFormat | None:
    """The spec's conversation format, refusing one that no causal LM can run."""
    if not spec.chat_format:
        return None
    chat_format = load_chat_format(spec.chat_format)
    if not chat_format.causal:
        raise BackendError(
            f"{spec.chat_format} is a Fusion-in-Decoder encoder-decoder run by its own pipeline; cvalues "
            "renders its input (cvalues models render) but cannot run it: score its replies with "
            "cvalues mc score"
        )
    return chat_format


def cut_at_stop(text: str, stop: Sequence[str]) -> str | None:
    """The text before the first stop string, or None when none occurs.

    Applied to the decoded reply: greedy decoding makes the same tokens whether it stops there
    or runs on, so cutting afterwards gives the reply the official code gives.
    """
    positions = [i for s in stop if (i := text.find(s)) >= 0]
    return text[: min(positions)] if positions else None
