"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM's server, llama.cpp's server, ...).

Two transports: ``generate`` requests, the bulk of every run, go through the thin aiohttp
client of ``models.chat_http`` (the SDK's per-request overhead is larger than a fast server's
answer time); ``choices`` requests, whose logprob answers the SDK types for us, go through the
official ``openai`` SDK, created on first use. Both retry the same way (the SDK's rules,
described in ``chat_http``): connection errors, timeouts, HTTP 408, 409, 429 and 5xx, waiting
as Retry-After says. A request that still fails comes back as ``ModelResponse(error=...)``,
never as an exception. A reply cut by the token limit
in the middle of a character loses the incomplete bytes (``models.chat.drop_cut_character``).

``generate``: one chat completion; ``settings.system_prompt`` goes first unless the request has
its own system message.

``choices``: a short greedy chat completion with ``logprobs`` and ``top_logprobs=20``, scored by
walking the greedy tokens (see ``models.logprob_walk``). A choice the walk cannot reach scores
``None`` (not ``-inf``: the response is stored as JSON) and is named in ``extra["unreachable"]``;
one scored only up to a prefix is named in ``extra["partial"]``; ``extra["answer_offset"]`` says
at which greedy token the answer was found when the model wrote something else first.

On a vLLM server (``/v1/models`` says ``owned_by: vllm``) choices take a one-pass path first:
the choices' common text prefix ("回复" for 回复1 / 回复2) is sent as the start of the assistant's
reply with vLLM's ``continue_final_message``, ``max_tokens=1``, and each choice's remaining text
is looked up among the ``top_logprobs`` of that one next token: log P(rest | prompt + prefix),
the prefix's own log-probability left out (the same for every choice). Such a request is a plain
generation, so the server's prefix cache serves the shared prompt (``prompt_logprobs`` would
disable it: vllm-project/vllm#3251, #8268). Where a choice's rest is not one token in the top 20,
the greedy walk below scores the request. ``extra["choice_path"]`` says which did:
``next_token`` or ``greedy_walk``. Other servers are not asked to continue a message: one that
ignored the unknown option would answer a different question without saying so.

Why the chat path and no exact scoring: scoring prompt + choice on ``/v1/completions`` (where a
server returns prompt log-probabilities) needs the model's chat template applied to the prompt
by hand, which a client cannot know for a remote model; and continuing a prefilled assistant
message is not part of the OpenAI chat API. The greedy walk works on any server that returns
``logprobs``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from cvalues.core.backend import ModelSpec
from cvalues.core.errors import BackendError
from cvalues.core.requests import GenerationSettings, ModelRequest, ModelResponse
from cvalues.models.chat import chat_messages, drop_cut_character
from cvalues.models.chat_http import (
    ChatCompletionsClient,
    ChatConnectionError,
    ChatStatusError,
    ChatTimeoutError,
)
from cvalues.models.logprob_walk import TokenLogprob, score_choices, token_bytes

TOP_LOGPROBS = 20  # the most the OpenAI API allows
# Every token covers at least one byte of text, so a choice's UTF-8 length bounds its token
# count; the cap keeps a long choice from asking for a long generation. The floor leaves room
# for a few words before the answer ("我认为回复1……"), which the walk can still read.
MIN_CHOICE_TOKENS = 16
MAX_CHOICE_TOKENS = 32
# Statuses the SDK retries besides 5xx (openai/_base_client.py, _should_retry).
_RETRIED_STATUS = (408, 409, 429)
# Retrying a reply whose body was not JSON (the SDK's own back-off: 0.5 s doubling, capped at 8 s).
MALFORMED_BACKOFF_S = 0.5
MALFORMED_BACKOFF_CAP_S = 8.0
LOCAL_SERVER_KEY = "EMPTY"  # local servers ignore the key, but the SDK requires one
DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIBackend:
    def __init__(
        self, spec: ModelSpec, *, timeout_s: float = 120.0, max_retries: int = 6, concurrency: int = 8
    ) -> None:
        api_key = os.environ.get(spec.api_key_env) or (LOCAL_SERVER_KEY if spec.base_url else None)
        if api_key is None:
            raise BackendError(
                f"no API key for {spec.key}: set the environment variable {spec.api_key_env} "
                "(or choose another with --api-key-env), or pass --base-url for a local server"
            )
        self.spec = spec
        self.batch_size = 1
        self.max_concurrency = max(1, concurrency)
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.api_key = api_key
        # As the SDK does: an explicit base URL, else OPENAI_BASE_URL, else OpenAI's.
        self.base_url = spec.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self._http = ChatCompletionsClient(
            self.base_url, api_key, timeout_s=timeout_s, max_retries=max_retries, max_connections=concurrency
        )
        self._sdk: Any = None
        self._continues_messages: bool | None = None  # asked of the server once, on the first choices

    @property
    def throttled(self) -> int:
        """429 and 503 answers seen so far (the executor's adaptive concurrency reads it)."""
        return self._http.throttled

    def _sdk_client(self) -> Any:
        if self._sdk is None:
            from openai import AsyncOpenAI

            self._sdk = AsyncOpenAI(
                api_key=self.api_key,
                base_url=self.base_url,
                timeout=self.timeout_s,
                max_retries=self.max_retries,
            )
        return self._sdk

    async def complete(
        self, requests: Sequence[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        if len(requests) == 1:  # what the executor sends a server; gather's task costs more than the call
            return [await self._complete_one(requests[0], settings)]
        return list(await asyncio.gather(*(self._complete_one(r, settings) for r in requests)))

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._sdk is not None:
            await self._sdk.close()

    async def _complete_one(self, request: ModelRequest, settings: GenerationSettings) -> ModelResponse:
        started = time.perf_counter()
        for attempt in range(self.max_retries + 1):
            try:
                if request.kind == "choices":
                    response = await self._choices(request, settings)
                else:
                    response = await self._generate(request, settings)
                break
            except Exception as exc:  # one failed request must not fail the run: it is recorded
                if not _is_malformed_answer(exc):
                    response = ModelResponse(error=self._describe(exc))
                    break
                # A 200 whose body is not the JSON promised (a proxy's error page, a cut body):
                # the SDK does not retry it, yet it is as transient as a 502. Same back-off.
                if attempt == self.max_retries:
                    response = ModelResponse(error=self._describe(exc) + self._retried_note())
                    break
                await asyncio.sleep(min(MALFORMED_BACKOFF_CAP_S, MALFORMED_BACKOFF_S * 2**attempt))
        response.latency_s = time.perf_counter() - started
        return response

    def _retried_note(self) -> str:
        return f" (after {self.max_retries} {'retry' if self.max_retries == 1 else 'retries'})"

    async def _generate(self, request: ModelRequest, settings: GenerationSettings) -> ModelResponse:
        options: dict[str, Any] = {"temperature": settings.temperature, "max_tokens": settings.max_tokens}
        if settings.top_p is not None:
            options["top_p"] = settings.top_p
        if settings.seed is not None:
            options["seed"] = settings.seed
        completion = await self._http.create(
            {"model": self.spec.name, "messages": chat_messages(request, settings), **options}
        )
        choice = completion["choices"][0]
        response = ModelResponse(
            text=drop_cut_character(
                (choice.get("message") or {}).get("content") or "", choice.get("finish_reason")
            ),
            reasoning=reasoning_of(choice.get("message") or {}),
            extra={"finish_reason": choice.get("finish_reason")},
        )
        usage = completion.get("usage")
        if isinstance(usage, dict):
            response.input_tokens = usage.get("prompt_tokens")
            response.output_tokens = usage.get("completion_tokens")
        return response

    async def _choices(self, request: ModelRequest, settings: GenerationSettings) -> ModelResponse:
        if await self._server_continues_messages():
            response = await self._choices_next_token(request, settings)
            if response is not None:
                return response
        return await self._choices_walk(request, settings)

    async def _server_continues_messages(self) -> bool:
        """Whether the server is vLLM, whose chat API can continue a started assistant message."""
        if self._continues_messages is None:
            try:
                models = await self._sdk_client().models.list()
                self._continues_messages = any(getattr(m, "owned_by", None) == "vllm" for m in models.data)
            except Exception:  # no model list: the walk works everywhere
                self._continues_messages = False
        return self._continues_messages

    async def _choices_next_token(
        self, request: ModelRequest, settings: GenerationSettings
    ) -> ModelResponse | None:
        """One token after prompt + the choices' common prefix; None when that cannot score them all."""
        prefix = _common_prefix(request.choices)
        rests = [choice[len(prefix) :].encode("utf-8") for choice in request.choices]
        if len(request.choices) < 2 or not all(rests):
            return None
        messages = chat_messages(request, settings)
        options: dict[str, Any] = {}
        if prefix:
            messages = [*messages, {"role": "assistant", "content": prefix}]
            options["extra_body"] = {"continue_final_message": True, "add_generation_prompt": False}
        completion = await self._sdk_client().chat.completions.create(
            model=self.spec.name,
            messages=messages,
            temperature=0,
            max_tokens=1,
            logprobs=True,
            top_logprobs=TOP_LOGPROBS,
            **options,
        )
        choice = completion.choices[0]
        if choice.logprobs is None or not choice.logprobs.content:
            return None
        first = choice.logprobs.content[0]
        seen = dict(_known_alternatives(first.top_logprobs))
        sampled = token_bytes(first.token, first.bytes)
        if sampled:
            seen.setdefault(sampled, first.logprob)
        if not all(rest in seen for rest in rests):
            return None
        logprobs: dict[str, float | None] = {c: seen[r] for c, r in zip(request.choices, rests, strict=True)}
        response = ModelResponse(
            choice_logprobs=logprobs, extra={"choice_path": "next_token", "prefix": prefix}
        )
        _record_usage(response, completion)
        return response

    async def _choices_walk(self, request: ModelRequest, settings: GenerationSettings) -> ModelResponse:
        longest = max((len(c.encode("utf-8")) for c in request.choices), default=1)
        completion = await self._sdk_client().chat.completions.create(
            model=self.spec.name,
            messages=chat_messages(request, settings),
            temperature=0,
            max_tokens=max(MIN_CHOICE_TOKENS, min(longest, MAX_CHOICE_TOKENS)),
            logprobs=True,
            top_logprobs=TOP_LOGPROBS,
        )
        choice = completion.choices[0]
        if choice.logprobs is None or choice.logprobs.content is None:
            return ModelResponse(
                error="the server returned no logprobs, so it cannot score choices; use a generation task"
            )
        tokens = [
            TokenLogprob(
                token=token_bytes(entry.token, entry.bytes),
                logprob=entry.logprob,
                top=tuple(_known_alternatives(entry.top_logprobs)),
            )
            for entry in choice.logprobs.content
        ]
        logprobs, extra = score_choices(tokens, request.choices)
        extra["greedy_text"] = choice.message.content or ""
        extra["choice_path"] = "greedy_walk"
        response = ModelResponse(choice_logprobs=logprobs, extra=extra)
        _record_usage(response, completion)
        return response

    def _describe(self, exc: Exception) -> str:
        where = self.spec.base_url or "the API"
        retried = f" (after {self.max_retries} {'retry' if self.max_retries == 1 else 'retries'})"
        if isinstance(exc, ChatStatusError):
            transient = exc.status in _RETRIED_STATUS or exc.status >= 500
            return f"HTTP {exc.status} from {where}{retried if transient else ''}: {exc.message}"
        if isinstance(exc, ChatTimeoutError):
            return f"request to {where} timed out after {self.timeout_s:g} s{retried}"
        if isinstance(exc, ChatConnectionError):
            return f"cannot connect to {where}{retried}: {exc}"
        sdk = sys.modules.get("openai")  # an SDK error needs the SDK loaded: no import for the thin path
        if sdk is None:
            return f"{type(exc).__name__}: {exc}"
        if isinstance(exc, sdk.APIStatusError):
            transient = exc.status_code in _RETRIED_STATUS or exc.status_code >= 500
            return f"HTTP {exc.status_code} from {where}{retried if transient else ''}: {exc.message}"
        if isinstance(exc, sdk.APITimeoutError):
            return f"request to {where} timed out after {self.timeout_s:g} s{retried}"
        if isinstance(exc, sdk.APIConnectionError):
            return f"cannot connect to {where}{retried}: {exc.__cause__ or exc}"
        return f"{type(exc).__name__}: {exc}"


def _is_malformed_answer(exc: Exception) -> bool:
    """A 200 whose body was not the JSON promised: the thin client's JSONDecodeError, or the
    SDK's validation error (looked up only when the SDK is loaded: the generate path never loads it)."""
    if isinstance(exc, json.JSONDecodeError):
        return True
    sdk = sys.modules.get("openai")
    return sdk is not None and isinstance(exc, sdk.APIResponseValidationError)


def _common_prefix(texts: Sequence[str]) -> str:
    """The longest text every one starts with (characters, not path components)."""
    shortest = min(texts, key=len, default="")
    for end, char in enumerate(shortest):
        if any(text[end] != char for text in texts):
            return shortest[:end]
    return shortest


def _known_alternatives(alternatives: Sequence[Any]) -> Iterator[tuple[bytes, float]]:
    """The top alternatives whose bytes are known; an opaque one can never match a choice."""
    for alt in alternatives:
        text = token_bytes(alt.token, alt.bytes)
        if text:
            yield text, alt.logprob


def _record_usage(response: ModelResponse, completion: Any) -> None:
    usage = getattr(completion, "usage", None)
    if usage is not None:
        response.input_tokens = usage.prompt_tokens
        response.output_tokens = usage.completion_tokens


def reasoning_of(message: Any) -> str | None:
    """A reasoning server's separate thinking: ``reasoning_content`` (DeepSeek, vLLM, llama.cpp) or
    ``reasoning`` (OpenRouter, newer vLLM). ``message`` is the thin client's JSON object, or an SDK
    message, which keeps unknown fields as extra attributes."""
    for name in ("reasoning_content", "reasoning"):
        if isinstance(message, dict):  # the thin client's parsed JSON
            value = message.get(name)
        else:
            value = getattr(message, name, None)
            if value is None:
                value = (getattr(message, "model_extra", None) or {}).get(name)
        if isinstance(value, str) and value:
            return value
    return None
