"""The backend protocol and the model spec (``openai:``, ``hf:``, ``gguf:``, ``vllm:``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from cvalues.core.errors import InputError
from cvalues.core.registry import BACKENDS
from cvalues.core.requests import GenerationSettings, ModelRequest, ModelResponse

# The built-in providers; a plugin adds its own through the ``cvalues.backends`` entry points.
Provider = str
PROVIDERS: tuple[str, ...] = ("openai", "hf", "gguf", "vllm", "hf-rm")
DTYPES: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed ``--model`` value plus the transport options that go with it."""

    provider: Provider
    name: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    dtype: str = "auto"  # local models: the weights' precision ("auto": bf16/fp16 on GPU, fp32 on CPU)
    # Local models: the conversation format that builds the prompt instead of the tokenizer's chat
    # template (``models.chat_formats``): a built-in name, or ``file:<sha256 prefix>=<path>`` for
    # a Jinja template file.
    chat_format: str | None = None
    # Local models: run the Python code a model ships (config.json ``auto_map``), e.g. ChatGLM-6B.
    trust_remote_code: bool = False

    @property
    def key(self) -> str:
        """Identity of the model for caching: provider and name, not where it is served. An explicit
        dtype is part of it (``hf:x@float32``): another precision gives other answers; so is a chat
        format (``hf:x#chat=moss``; for a template file its content hash, not its path)."""
        base = f"{self.provider}:{self.name}"
        if self.dtype != "auto":
            base = f"{base}@{self.dtype}"
        if self.chat_format:
            base = f"{base}#chat={self.chat_format.partition('=')[0]}"
        return base

    def to_record(self) -> dict[str, object]:
        """What a run records about the model (``results.json`` ``model``): never the API key."""
        return {
            "spec": f"{self.provider}:{self.name}",
            "base_url": self.base_url,
            "dtype": self.dtype,
            "chat_format": self.chat_format,
            "trust_remote_code": self.trust_remote_code,
        }

    @classmethod
    def parse(
        cls,
        value: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        dtype: str | None = None,
        chat_format: str | None = None,
        trust_remote_code: bool = False,
    ) -> ModelSpec:
        provider, sep, name = value.partition(":")
        if not sep or not name or (provider not in PROVIDERS and provider not in BACKENDS):
            known = sorted(set(PROVIDERS) | set(BACKENDS.names()))
            raise InputError(
                f"model spec {value!r} must be one of " + ", ".join(f"{p}:<name>" for p in known),
                flag="--model",
            )
        dtype = dtype or "auto"
        if dtype not in DTYPES:
            raise InputError(f"must be one of {', '.join(DTYPES)}, got {dtype!r}", flag="--dtype")
        if dtype != "auto" and provider == "openai":
            raise InputError("a server model's precision is set on the server, not here", flag="--dtype")
        if provider == "openai" and chat_format:
            raise InputError(
                "a server model's conversation format is applied by the server; --chat-format is for "
                "local models (hf:, gguf:, vllm:)",
                flag="--chat-format",
            )
        if provider == "openai" and trust_remote_code:
            raise InputError("only local models (hf:, vllm:) run code they ship", flag="--trust-remote-code")
        if base_url is not None:
            check_base_url(base_url)
        return cls(
            provider=provider,
            name=name,
            base_url=base_url,
            api_key_env=api_key_env,
            dtype=dtype,
            chat_format=chat_format or None,
            trust_remote_code=trust_remote_code,
        )


def check_base_url(base_url: str) -> None:
    """A ``--base-url`` must be ``http(s)://host[:port][/path]``. Without this check the SDK reads
    ``localhost:8011`` as a relative path and retries connection errors for half a minute."""
    try:
        parts = urlsplit(base_url)
        port = parts.port  # raises ValueError for a port that is not a number in 0-65535
    except ValueError as exc:
        raise InputError(f"{base_url!r} is not a URL ({exc})", flag="--base-url") from exc
    if parts.scheme not in ("http", "https"):
        hint = f"; did you mean http://{base_url}?" if "://" not in base_url else ""
        raise InputError(f"{base_url!r} must start with http:// or https://{hint}", flag="--base-url")
    if not parts.hostname:
        raise InputError(f"{base_url!r} names no host", flag="--base-url")
    if port == 0:
        raise InputError(f"{base_url!r} names port 0", flag="--base-url")


@runtime_checkable
class Backend(Protocol):
    """A model behind one interface. Only the executor calls it.

    ``batch_size``: how many requests one ``complete`` call takes (a local model pads a batch;
    a server takes one request per call). ``max_concurrency``: how many ``complete`` calls the
    executor may have in flight at once (1 for a local model that uses every core).
    """

    spec: ModelSpec
    batch_size: int
    max_concurrency: int

    async def complete(
        self, requests: Sequence[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        """Answer each request, in order. A failed request gives a response with ``error`` set
        (after the backend's own retries); it never raises for one bad request."""
        ...

    async def aclose(self) -> None: ...
