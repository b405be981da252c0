"""The backend protocol and the model spec (``openai:``, ``hf:``, ``gguf:``, ``vllm:``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

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

    @property
    def key(self) -> str:
        """Identity of the model for caching: provider and name, not where it is served. An explicit
        dtype is part of it (``hf:x@float32``): another precision gives other answers."""
        base = f"{self.provider}:{self.name}"
        return base if self.dtype == "auto" else f"{base}@{self.dtype}"

    @classmethod
    def parse(
        cls,
        value: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        dtype: str | None = None,
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
        return cls(provider=provider, name=name, base_url=base_url, api_key_env=api_key_env, dtype=dtype)


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
