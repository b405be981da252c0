"""A backend that is created on its first request.

A resumed run whose answers are all in the store then never loads the model (a local model
takes a minute to load; a server may be down by now), which is what makes resume instant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from cvalues.core.backend import Backend, ModelSpec
from cvalues.core.requests import GenerationSettings, ModelRequest, ModelResponse


class LazyBackend:
    def __init__(
        self,
        spec: ModelSpec,
        *,
        concurrency: int = 8,
        batch_size: int = 8,
        device: str = "auto",
        max_retries: int = 6,
        batch_tokens: int | None = None,
        engine: str = "fast",
        executor: str = "local",
        ray_address: str | None = None,
        ray_workers: int = 2,
    ) -> None:
        self.spec = spec
        self._options = {
            "concurrency": concurrency,
            "batch_size": batch_size,
            "device": device,
            "max_retries": max_retries,
            "batch_tokens": batch_tokens,
            "engine": engine,
            "executor": executor,
            "ray_address": ray_address,
            "ray_workers": ray_workers,
        }
        self._backend: Backend | None = None
        self._lock: asyncio.Lock | None = None
        # A server takes one request per call, many at once; a local model one padded batch at a time.
        # The executor reads both before the first call loads anything, so a Ray executor's
        # concurrency (one call per actor, or per actor slot for a server) is known here already.
        local = spec.provider in ("hf", "gguf", "vllm", "hf-rm")
        self.batch_size = batch_size if local else 1
        self.max_concurrency = 1 if local else concurrency
        if executor == "ray":
            self.max_concurrency *= max(1, ray_workers)

    @property
    def throttled(self) -> int:
        """The loaded backend's count of 429/503 answers (for the executor's adaptive concurrency)."""
        return int(getattr(self._backend, "throttled", 0))

    @property
    def loaded(self) -> bool:
        return self._backend is not None

    async def _get(self) -> Backend:
        if self._backend is None:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:  # concurrent first calls must not load the model twice
                if self._backend is None:
                    from cvalues.models.registry import create_backend

                    # In a thread: loading a local model takes seconds, and the event loop must keep
                    # the progress bar and Ctrl-C alive meanwhile.
                    created: Backend = await asyncio.to_thread(create_backend, self.spec, **self._options)  # type: ignore[arg-type]
                    self._backend = created
                    self.batch_size = created.batch_size
                    self.max_concurrency = created.max_concurrency
        assert self._backend is not None
        return self._backend

    async def complete(
        self, requests: Sequence[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        backend = await self._get()
        return await backend.complete(requests, settings)

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()
