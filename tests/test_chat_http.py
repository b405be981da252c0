"""The thin chat client's retries against a real llama.cpp server behind a fault-injecting proxy."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cvalues.models.chat_http import ChatCompletionsClient, ChatStatusError, ChatTimeoutError, _retry_after_s
from faulty_proxy import HANG, RETRY_AFTER_S, FaultyProxy
from servers import SERVER_MODEL_ALIAS, RunningServer

BODY = {
    "model": SERVER_MODEL_ALIAS,
    "messages": [{"role": "user", "content": "What is the capital of France? Answer in one word."}],
    "temperature": 0,
    "max_tokens": 8,
}


def post(base_url: str, *, max_retries: int, timeout_s: float = 60) -> tuple[Any, ChatCompletionsClient]:
    client = ChatCompletionsClient(
        base_url, "EMPTY", timeout_s=timeout_s, max_retries=max_retries, max_connections=4
    )

    async def run() -> Any:
        try:
            return await client.create(BODY)
        except Exception as exc:  # returned so that the test can look at it
            return exc
        finally:
            await client.aclose()

    return asyncio.run(run()), client


def test_retry_after_header_forms() -> None:
    from multidict import CIMultiDict, CIMultiDictProxy

    def wait(**headers: str) -> float | None:
        return _retry_after_s(
            CIMultiDictProxy(CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()}))
        )

    assert wait(retry_after_ms="250") == pytest.approx(0.25)
    assert wait(retry_after="3") == 3
    assert wait(retry_after="Wed, 21 Oct 2015 07:28:00 GMT") == 0  # a date in the past: at once
    assert wait(retry_after="soon") is None
    assert wait() is None


@pytest.mark.server
def test_429_with_retry_after_then_500_are_retried(llama_server: RunningServer) -> None:
    with FaultyProxy(llama_server.root_url, faults=[429, 500]) as proxy:
        answer, client = post(proxy.base_url, max_retries=3)
        assert not isinstance(answer, Exception), answer
        assert "Paris" in answer["choices"][0]["message"]["content"]
        assert proxy.attempts == 3
        assert proxy.arrivals[1] - proxy.arrivals[0] >= RETRY_AFTER_S - 0.05  # Retry-After honoured
        assert client.throttled == 1  # the 429 counts as throttling, the 500 does not


@pytest.mark.server
def test_5xx_until_retries_are_spent_raises_the_status(llama_server: RunningServer) -> None:
    with FaultyProxy(llama_server.root_url, faults=[502, 503, 500]) as proxy:
        answer, client = post(proxy.base_url, max_retries=2)
        assert isinstance(answer, ChatStatusError)
        assert answer.status == 500
        assert answer.message == "injected fault"
        assert proxy.attempts == 3
        assert client.throttled == 1  # the 503


@pytest.mark.server
def test_a_400_is_not_retried(llama_server: RunningServer) -> None:
    with FaultyProxy(llama_server.root_url, faults=[400]) as proxy:
        answer, _ = post(proxy.base_url, max_retries=3)
        assert isinstance(answer, ChatStatusError) and answer.status == 400
        assert proxy.attempts == 1


@pytest.mark.server
def test_a_hung_request_times_out_and_the_retry_succeeds(llama_server: RunningServer) -> None:
    warm, _ = post(llama_server.base_url, max_retries=0)  # a cold server's first answer can be slow
    assert not isinstance(warm, Exception), warm
    # The timeout leaves the real server time to answer the retry on a busy machine.
    with FaultyProxy(llama_server.root_url, faults=[HANG], hang_s=120) as proxy:
        answer, _ = post(proxy.base_url, max_retries=1, timeout_s=12)
        assert not isinstance(answer, Exception), answer
        assert "Paris" in answer["choices"][0]["message"]["content"]
        assert proxy.attempts == 2
        assert 11.9 <= proxy.arrivals[1] - proxy.arrivals[0] < 60  # after the timeout, not the hang


@pytest.mark.server
def test_timeouts_until_retries_are_spent_raise(llama_server: RunningServer) -> None:
    with FaultyProxy(llama_server.root_url, faults=[HANG, HANG], hang_s=4) as proxy:
        answer, _ = post(proxy.base_url, max_retries=1, timeout_s=1)
        assert isinstance(answer, ChatTimeoutError)
        assert proxy.attempts == 2
