"""The model red-teamers chat with, reached through cvalues' executor (so every reply is stored
and cached like any other run's) and created on first use."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cvalues.core.backend import Backend, ModelSpec
from cvalues.core.requests import GenerationSettings, Message, ModelRequest
from cvalues.execute.executor import execute
from cvalues.models.registry import create_backend
from cvalues.store.store import Store

# A red-team reply is read by a person; a long one is cut, not refused.
MAX_REPLY_CHARS = 20_000
PROBE_TIMEOUT_S = 3.0


class TargetError(RuntimeError):
    """The target model could not answer (its message is shown to the red-teamer)."""


@dataclass
class RedTeamTarget:
    """A target model spec and settings; ``backend`` may be given (tests) or is created lazily."""

    spec: ModelSpec
    settings: GenerationSettings = field(
        default_factory=lambda: GenerationSettings(temperature=0.7, max_tokens=512)
    )
    device: str = "auto"
    backend: Backend | None = None
    _lock: asyncio.Lock | None = None

    @property
    def name(self) -> str:
        return self.spec.key

    async def _backend(self) -> Backend:
        if self.backend is None:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                if self.backend is None:
                    # Loading a local model takes a while: off the event loop.
                    self.backend = await asyncio.to_thread(
                        create_backend, self.spec, concurrency=4, batch_size=1, device=self.device
                    )
        return self.backend

    async def reply(
        self, store: Store, history: Sequence[tuple[str, str]], prompt: str, timeout_s: float | None = None
    ) -> str:
        """The target's answer to ``prompt`` after the chat's ``history`` of (role, content) turns.
        ``timeout_s`` bounds the answer (``TimeoutError``), not the first load of a local model."""
        messages: list[Message] = []
        if self.settings.system_prompt:
            messages.append(Message("system", self.settings.system_prompt))
        messages += [Message(role, content) for role, content in history]  # type: ignore[arg-type]
        messages.append(Message("user", prompt))
        await self._check_reachable()
        backend = await self._backend()
        result = await asyncio.wait_for(
            execute([ModelRequest(messages=tuple(messages))], backend, self.settings, store, progress=False),
            timeout_s,
        )
        response = result.responses[0]
        if response.error is not None or response.text is None:
            raise TargetError(response.error or "the model returned no text")
        return response.text[:MAX_REPLY_CHARS]

    async def _check_reachable(self) -> None:
        """A server that refuses connections is down: say so at once instead of waiting out the
        executor's retries (which suit a slow or briefly overloaded server, not a dead one)."""
        if not self.spec.base_url:
            return
        url = urlsplit(self.spec.base_url)
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            _reader, writer = await asyncio.wait_for(
                asyncio.open_connection(url.hostname, port), PROBE_TIMEOUT_S
            )
        except (OSError, TimeoutError) as exc:
            raise TargetError(f"cannot connect to the target: {exc}") from exc
        writer.close()

    async def aclose(self) -> None:
        if self.backend is not None:
            await self.backend.aclose()
