"""Finding a chat format: by name or alias, from a Jinja template file, or from the model itself.

``--chat-format`` takes a built-in name or a file. A file is a Jinja template over ``messages``
and ``add_generation_prompt`` (the ``chat_template`` convention); its identity in the cache key is
``file:<sha256 prefix>`` so that editing the file gives new answers rather than stale ones.

``guess_chat_format`` picks a built-in format from the model's name or ``config.json`` only where
that is unambiguous (``chatglm-6b`` but not ``chatglm2-6b``, whose format differs).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from cvalues.core.errors import InputError
from cvalues.models.chat_formats._families import BUILTIN_FORMATS
from cvalues.models.chat_formats._format import ChatFormat, ChatMessage, RenderedPrompt

FILE_PREFIX = "file:"
_BY_NAME: dict[str, ChatFormat] = {}
for _format in BUILTIN_FORMATS:
    for _name in (_format.name, *_format.aliases):
        _BY_NAME[_name] = _format


def builtin_names() -> list[str]:
    return [f.name for f in BUILTIN_FORMATS]


def get_chat_format(name: str) -> ChatFormat:
    """A built-in format by name or alias (case-insensitive)."""
    found = _BY_NAME.get(name.strip().lower())
    if found is None:
        raise InputError(
            f"unknown chat format {name!r}; built-in: {', '.join(builtin_names())}, or a Jinja template file",
            flag="--chat-format",
        )
    return found


class TemplateChatFormat:
    """A ``--chat-format FILE``: a Jinja chat template rendered as transformers renders one."""

    def __init__(self, path: Path) -> None:
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read chat template: {exc}", path=path) from None
        environment = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True
        )
        try:
            self._template = environment.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise InputError(
                f"not a valid Jinja template: {exc.message}", path=path, line=exc.lineno
            ) from None
        self.path = path
        self.name = f"{FILE_PREFIX}{hashlib.sha256(source.encode('utf-8')).hexdigest()[:16]}"
        self.stop: tuple[str, ...] = ()
        self.causal = True

    def render(self, messages: Sequence[ChatMessage]) -> RenderedPrompt:
        try:
            prompt = self._template.render(messages=list(messages), add_generation_prompt=True)
        except jinja2.TemplateError as exc:
            raise InputError(f"chat template failed: {exc}", path=self.path) from None
        return RenderedPrompt(prompt=prompt)


AnyChatFormat = ChatFormat | TemplateChatFormat


def resolve_chat_format_option(value: str) -> str:
    """The identity ``--chat-format VALUE`` records: a canonical built-in name or ``file:<hash>=<path>``."""
    if value.strip().lower() in _BY_NAME:
        return get_chat_format(value).name
    path = Path(value).expanduser()
    if path.is_file():
        template = TemplateChatFormat(path)
        return f"{template.name}={path.resolve()}"
    if path.suffix or "/" in value:
        raise InputError(f"chat template file {value} does not exist", flag="--chat-format")
    return get_chat_format(value).name  # raises, listing the names


def load_chat_format(identity: str) -> AnyChatFormat:
    """The format a recorded identity names (see ``resolve_chat_format_option``)."""
    if identity.startswith(FILE_PREFIX):
        expected, _, path = identity.partition("=")
        template = TemplateChatFormat(Path(path))
        if template.name != expected:
            raise InputError(
                f"chat template {path} changed since the run started ({expected} -> {template.name})",
                flag="--chat-format",
            )
        return template
    return get_chat_format(identity)


def format_key(identity: str) -> str:
    """The part of an identity that belongs in a cache key: a file's hash, not its path."""
    return identity.partition("=")[0]


# Lower-cased model name patterns -> format. Only names that mean one format.
_NAME_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"(^|[/_-])chatglm-6b($|[/_-])", "chatglm-6b"),
    (r"moss-moon-003-sft", "moss"),
    (r"belle-7b-", "belle"),
    (r"chatplug", "chatplug"),
    (r"chinese-alpaca(?!-2)", "chinese-alpaca"),  # Chinese-Alpaca-2 uses the Llama-2 chat format
    (r"ziya-llama", "ziya"),
    (r"chinese-llama(?!-2)", "plain"),
)


def guess_chat_format(model_name: str, config: dict[str, object] | None = None) -> str | None:
    """The built-in format a model's name (or its config's ``_name_or_path``) names, else None."""
    names = [model_name]
    if config and isinstance(config.get("_name_or_path"), str):
        names.append(str(config["_name_or_path"]))
    for name in names:
        lowered = name.lower()
        for pattern, format_name in _NAME_PATTERNS:
            if re.search(pattern, lowered):
                return format_name
    return None


def has_chat_template(model_dir: Path) -> bool:
    """Whether a local model folder ships a chat template (then no format is guessed for it)."""
    if (model_dir / "chat_template.jinja").is_file() or (model_dir / "chat_template.json").is_file():
        return True
    try:
        config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and bool(config.get("chat_template"))


def read_model_config(model_dir: Path) -> dict[str, object] | None:
    """A local model folder's config.json, or None (a hub id, or no readable config)."""
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        return None
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
