"""Conversation formats of models that predate ``chat_template`` (the CValues paper's models).

``get_chat_format("moss").render(messages)`` gives the exact prompt string and stop strings;
``resolve_chat_format_option`` turns a ``--chat-format`` value into the identity a run records;
``load_chat_format`` turns it back; ``guess_chat_format`` picks one from a model's name.
"""

from cvalues.models.chat_formats._families import BUILTIN_FORMATS, MOSS_META_INSTRUCTION
from cvalues.models.chat_formats._format import ChatFormat, RenderedPrompt, split_conversation
from cvalues.models.chat_formats._lookup import (
    AnyChatFormat,
    TemplateChatFormat,
    builtin_names,
    format_key,
    get_chat_format,
    guess_chat_format,
    has_chat_template,
    load_chat_format,
    read_model_config,
    resolve_chat_format_option,
)
from cvalues.models.chat_formats._runtime import chat_format_for, cut_at_stop

__all__ = [
    "BUILTIN_FORMATS",
    "MOSS_META_INSTRUCTION",
    "AnyChatFormat",
    "ChatFormat",
    "RenderedPrompt",
    "TemplateChatFormat",
    "builtin_names",
    "chat_format_for",
    "cut_at_stop",
    "format_key",
    "get_chat_format",
    "guess_chat_format",
    "has_chat_template",
    "load_chat_format",
    "read_model_config",
    "resolve_chat_format_option",
    "split_conversation",
]
