"""How many tokens a model can take, and how many a prompt needs, known before any request.

A prompt longer than the context window does not fail cleanly everywhere: in-process it can die
in the CPU allocator after a minute (a 5-million-character prompt to SmolLM2), on a server it is a
400 or a timeout. So a run screens its requests first (``execute.screen``), with the numbers here.

``context_window(spec)`` reads the window without loading weights: a GGUF file's metadata
(``<arch>.context_length``), a model directory's ``config.json``, or what an OpenAI-compatible
server says (vLLM: ``max_model_len`` in ``/v1/models``; llama.cpp's C++ server: ``/props``
``default_generation_settings.n_ctx`` or ``meta.n_ctx`` in ``/v1/models``). ``None``: unknown
(llama-cpp-python's server reports nothing), and then the server's own error is the guard.

``token_counter(spec)`` gives an exact tokenizer count where the vocabulary is cheap to load (a
GGUF file's vocabulary through llama.cpp, a directory's ``tokenizer.json``); ``None`` otherwise,
and the screen uses bounds from the UTF-8 length instead.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from cvalues.core.backend import ModelSpec
from cvalues.models.smollm2 import resolve_gguf_path

# config.json keys that hold the window, in the order transformers' own configs use them.
_CONFIG_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "n_ctx")
SERVER_TIMEOUT_S = 5.0

TokenCounter = Callable[[str], int]


def context_window(spec: ModelSpec, *, timeout_s: float = SERVER_TIMEOUT_S) -> int | None:
    """The model's context window in tokens, or None when it cannot be known cheaply."""
    if spec.provider == "gguf":
        path = resolve_gguf_path(spec.name)
        return gguf_context_length(path) if path.is_file() else None
    if spec.provider in ("hf", "vllm"):
        return config_context_length(Path(spec.name).expanduser())
    if spec.base_url:
        return server_context_length(spec.base_url, spec.name, timeout_s=timeout_s)
    return None


def gguf_context_length(path: Path) -> int | None:
    metadata = gguf_metadata(path)
    arch = metadata.get("general.architecture")
    value = metadata.get(f"{arch}.context_length") if arch else None
    return int(value) if value is not None else None


def gguf_metadata(path: Path) -> dict[str, Any]:
    """The GGUF key/value metadata. llama.cpp reads it in a fraction of a second with the vocabulary
    only; the ``gguf`` package (transformers' GGUF reader) is the fallback, slower as it maps every
    tensor."""
    vocab = _llama_vocab(path)
    if vocab is not None:
        return dict(vocab.metadata)
    try:
        from gguf import GGUFReader
    except ImportError:
        return {}
    reader = GGUFReader(str(path))
    wanted = {"general.architecture"}
    arch_field = reader.fields.get("general.architecture")
    if arch_field is not None:
        wanted.add(f"{arch_field.contents()}.context_length")
    return {key: reader.fields[key].contents() for key in wanted if key in reader.fields}


def config_context_length(folder: Path) -> int | None:
    """The window from a local model directory's config.json (a hub id without a local copy: None)."""
    config = folder / "config.json"
    if not config.is_file():
        return None
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    # Multimodal configs nest the language model's settings.
    for section in (data, data.get("text_config") or {}):
        for key in _CONFIG_KEYS:
            value = section.get(key)
            if isinstance(value, int) and value > 0:
                return value
    return None


def server_context_length(base_url: str, model: str, *, timeout_s: float = SERVER_TIMEOUT_S) -> int | None:
    """What an OpenAI-compatible server says about its window; None when it does not say."""
    root = base_url.rstrip("/")
    try:
        with httpx.Client(timeout=timeout_s) as client:
            found = _window_from_models(client, root, model)
            if found is None:
                # llama.cpp's C++ server serves /props beside /v1, at the root.
                server_root = root[: -len("/v1")] if root.endswith("/v1") else root
                found = _window_from_props(client, server_root)
    except httpx.HTTPError:
        return None
    return found


def _window_from_models(client: httpx.Client, root: str, model: str) -> int | None:
    reply = client.get(f"{root}/models")
    if reply.status_code != 200:
        return None
    try:
        entries = reply.json().get("data") or []
    except (ValueError, AttributeError):
        return None
    entries = [e for e in entries if isinstance(e, dict)]
    chosen = [e for e in entries if e.get("id") == model] or entries[:1]
    for entry in chosen:
        meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
        for value in (entry.get("max_model_len"), meta.get("n_ctx"), entry.get("context_length")):
            if isinstance(value, int) and value > 0:
                return value
    return None


def _window_from_props(client: httpx.Client, server_root: str) -> int | None:
    reply = client.get(f"{server_root}/props")
    if reply.status_code != 200:
        return None
    try:
        settings = reply.json().get("default_generation_settings") or {}
        value = settings.get("n_ctx")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and value > 0 else None


def token_counter(spec: ModelSpec) -> TokenCounter | None:
    """An exact token count for plain text (no chat template), when the vocabulary loads cheaply."""
    if spec.provider == "gguf":
        path = resolve_gguf_path(spec.name)
        vocab = _llama_vocab(path) if path.is_file() else None
        if vocab is None:
            return None
        return lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))
    if spec.provider in ("hf", "vllm"):
        tokenizer_file = Path(spec.name).expanduser() / "tokenizer.json"
        if not tokenizer_file.is_file():
            return None
        try:
            from tokenizers import Tokenizer
        except ImportError:
            return None
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)
    return None


def template_tokens(spec: ModelSpec) -> int | None:
    """Tokens the model's own chat template adds around one empty user message (a default system
    prompt such as SmolLM2's, role markers, the generation prompt), counted with its tokenizer.
    None when the template or the tokenizer is not at hand cheaply, or the spec names another
    chat format; the screen then uses its generous fixed allowance."""
    if spec.chat_format:
        return None
    template, count = _template_and_counter(spec)
    if template is None or count is None:
        return None
    try:
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:
        return None

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    environment.globals["raise_exception"] = raise_exception
    try:
        rendered = environment.from_string(template).render(
            messages=[{"role": "user", "content": ""}], add_generation_prompt=True, bos_token="", eos_token=""
        )
    except Exception:  # a template this renderer cannot run: fall back to the fixed allowance
        return None
    return count(rendered)


def _template_and_counter(spec: ModelSpec) -> tuple[str | None, TokenCounter | None]:
    """The chat template and a counter that reads its special tokens (``<|im_start|>``) as one."""
    if spec.provider == "gguf":
        path = resolve_gguf_path(spec.name)
        vocab = _llama_vocab(path) if path.is_file() else None
        if vocab is None:
            return None, None
        template = vocab.metadata.get("tokenizer.chat_template")
        return template, lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True))
    if spec.provider in ("hf", "vllm"):
        folder = Path(spec.name).expanduser()
        count = token_counter(spec)
        template = None
        with contextlib.suppress(OSError, json.JSONDecodeError):
            config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
            template = config.get("chat_template") if isinstance(config.get("chat_template"), str) else None
        if template is None and (folder / "chat_template.jinja").is_file():
            template = (folder / "chat_template.jinja").read_text(encoding="utf-8")
        return template, count
    return None, None


@functools.lru_cache(maxsize=4)
def _llama_vocab(path: Path) -> Any | None:
    """llama.cpp with the vocabulary only (no weights): ~0.3 s for SmolLM2, once per file. None
    without llama-cpp-python."""
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    try:
        # llama.cpp's C code writes a context warning to stderr even with verbose=False.
        from llama_cpp._utils import suppress_stdout_stderr
    except ImportError:
        quiet: Any = contextlib.nullcontext()
    else:
        quiet = suppress_stdout_stderr(disable=False)
    try:
        with quiet:
            return Llama(str(path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError):
        return None
