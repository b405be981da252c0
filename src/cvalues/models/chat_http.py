"""A thin HTTP client for ``POST /chat/completions``: the hot path of the OpenAI-compatible backend.

Why not the ``openai`` SDK here: on a fast server its request building, response model
validation and httpx's connection pool cost about 1.6 ms of CPU per request (profiled with
1,000 chat requests against a loopback server), more than the server itself. This client sends
one pre-serialised JSON body over a keep-alive pool and returns the parsed JSON dict. The pool
is ``models.http_transport``'s: a lean HTTP/1.1 client (httptools) for plain ``http://``
servers without a proxy, aiohttp for HTTPS and proxies.

Retries follow the SDK's rules (openai 3.x, ``_base_client.py``) so that behaviour does not
change with the transport: connection errors, timeouts, and HTTP 408, 409, 429 and 5xx are
retried up to ``max_retries`` times (a server's ``x-should-retry: true|false`` header
overrides the status rule). Before a retry it waits as ``retry-after-ms`` or ``retry-after``
(seconds or an HTTP date) says when that is between 0 and ``MAX_RETRY_AFTER_S``; a longer
wait is not retried (the request fails at once, rather than block a run for minutes);
without the header it backs off exponentially, 0.5 s * 2^n capped at 8 s, less up to 25%
jitter. ``throttled`` counts the 429 and 503 answers seen, which the executor's adaptive
concurrency limit reads as "slow down".
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from cvalues.models.http_transport import Transport, open_transport

RETRIED_STATUS = (408, 409, 429)
THROTTLE_STATUS = (429, 503)
MAX_RETRY_AFTER_S = 120.0
INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0
MAX_ERROR_BODY_CHARS = 500


class ChatHTTPError(Exception):
    """A request that failed for good (after its retries)."""


class ChatStatusError(ChatHTTPError):
    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class ChatTimeoutError(ChatHTTPError):
    pass


class ChatConnectionError(ChatHTTPError):
    pass


class ChatCompletionsClient:
    """POSTs chat completion bodies to ``{base_url}/chat/completions`` with the SDK's retry rules.

    ``transport``: ``auto`` (lean where the URL allows, see ``models.http_transport``),
    ``lean`` or ``aiohttp``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float,
        max_retries: int,
        max_connections: int,
        transport: str = "auto",
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.max_connections = max(1, max_connections)
        self.throttled = 0
        self._transport: Transport = open_transport(
            self.url,
            {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            timeout_s=timeout_s,
            max_connections=self.max_connections,
            kind=transport,
        )

    @property
    def transport_name(self) -> str:
        return type(self._transport).__name__

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def create(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The parsed JSON answer to ``payload``; raises a ``ChatHTTPError`` once retries are spent."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        attempt = 0
        while True:
            error: ChatHTTPError
            retry_after: float | None = None
            try:
                status, headers, raw = await self._transport.post(body)
                if status < 300:
                    answer: dict[str, Any] = json.loads(raw)
                    return answer
                error = ChatStatusError(status, _error_message(raw), headers)
                retryable = _should_retry(status, headers)
                retry_after = _retry_after_s(headers)
                if status in THROTTLE_STATUS:
                    self.throttled += 1
            except TimeoutError:  # asyncio's timeouts; before OSError, of which it is a subclass
                error, retryable = ChatTimeoutError(f"timed out after {self.timeout_s:g} s"), True
            except OSError as exc:  # refused, reset, closed mid-answer, no such host, ...
                error, retryable = ChatConnectionError(str(exc) or type(exc).__name__), True
            if not retryable or attempt >= self.max_retries:
                raise error
            if retry_after is not None and retry_after > MAX_RETRY_AFTER_S:
                raise error  # the server asks for a longer pause than a run should block for
            await asyncio.sleep(retry_after if retry_after is not None else _backoff_s(attempt))
            attempt += 1


def _should_retry(status: int, headers: Mapping[str, str]) -> bool:
    override = headers.get("x-should-retry")
    if override == "true":
        return True
    if override == "false":
        return False
    return status in RETRIED_STATUS or status >= 500


def _retry_after_s(headers: Mapping[str, str]) -> float | None:
    """The wait a ``retry-after-ms`` or ``retry-after`` header asks for, or None without a usable one."""
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def _backoff_s(attempt: int) -> float:
    delay = min(INITIAL_BACKOFF_S * 2**attempt, MAX_BACKOFF_S)
    return delay * (1 - 0.25 * random.random())


def _error_message(raw: bytes) -> str:
    """The server's ``error.message`` when it sent one, else the start of the body."""
    text = raw.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text[:MAX_ERROR_BODY_CHARS]
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"][:MAX_ERROR_BODY_CHARS]
        if isinstance(data.get("message"), str):
            return data["message"][:MAX_ERROR_BODY_CHARS]
    return text[:MAX_ERROR_BODY_CHARS]
