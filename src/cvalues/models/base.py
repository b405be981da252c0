"""The backend protocol and the model spec (``openai:``, ``hf:``, ``gguf:``, ``vllm:``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from cvalues.errors import InputError
from cvalues.execute.requests import GenerationSettings, ModelRequest, ModelResponse

Provider = Literal["openai", "hf", "gguf", "vllm"]
PROVIDERS: tuple[Provider, ...] = ("openai", "hf", "gguf", "vllm")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed ``--model`` value plus the transport options that go with it."""

    provider: Provider
    name: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"

    @property
    def key(self) -> str:
        """Identity of the model for caching: provider and name, not where it is served."""
        return f"{self.provider}:{self.name}"

    @classmethod
    def parse(
        cls, value: str, *, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY"
    ) -> ModelSpec:
        provider, sep, name = value.partition(":")
        if not sep or not name or provider not in PROVIDERS:
            raise InputError(
                f"model spec {value!r} must be one of " + ", ".join(f"{p}:<name>" for p in PROVIDERS),
                flag="--model",
            )
        return cls(provider=provider, name=name, base_url=base_url, api_key_env=api_key_env)  # type: ignore[arg-type]


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
