"""The chat client's two transports: the lean HTTP/1.1 pool and aiohttp, against real servers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from cvalues.models.chat_http import ChatCompletionsClient, ChatConnectionError
from cvalues.models.http_transport import AiohttpTransport, LeanTransport, open_transport
from faulty_proxy import FaultyProxy
from servers import SERVER_MODEL_ALIAS, RunningServer, free_port

BODY = {
    "model": SERVER_MODEL_ALIAS,
    "messages": [{"role": "user", "content": "What is the capital of France? Answer in one word."}],
    "temperature": 0,
    "max_tokens": 8,
}
HEADERS = {"Authorization": "Bearer EMPTY", "Content-Type": "application/json"}
PATH = "/v1/chat/completions"


def client(base_url: str, *, transport: str = "auto", max_retries: int = 0) -> ChatCompletionsClient:
    return ChatCompletionsClient(
        base_url, "EMPTY", timeout_s=60, max_retries=max_retries, max_connections=4, transport=transport
    )


def post_each(chat: ChatCompletionsClient, pauses_s: list[float]) -> list[Any]:
    """One request, then one more after each pause; answers (or the exception) in order."""

    async def run() -> list[Any]:
        answers = []
        try:
            for pause in [0.0, *pauses_s]:
                await asyncio.sleep(pause)
                try:
                    answers.append(await chat.create(BODY))
                except Exception as exc:  # returned so that the test can look at it
                    answers.append(exc)
        finally:
            await chat.aclose()
        return answers

    return asyncio.run(run())


def transport_for(url: str, kind: str = "auto") -> object:
    return open_transport(url, HEADERS, timeout_s=5, max_connections=2, kind=kind)


def test_plain_http_goes_lean_and_https_or_a_proxy_through_aiohttp(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(transport_for("http://127.0.0.1:8000" + PATH), LeanTransport)
    assert isinstance(transport_for("https://api.example.com" + PATH), AiohttpTransport)
    with pytest.raises(ValueError, match="plain http"):
        transport_for("https://api.example.com" + PATH, kind="lean")

    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    assert isinstance(transport_for("http://10.1.2.3:8000" + PATH), AiohttpTransport)
    monkeypatch.setenv("NO_PROXY", "10.1.2.3")
    assert isinstance(transport_for("http://10.1.2.3:8000" + PATH), LeanTransport)


@pytest.mark.parametrize("transport", ["lean", "aiohttp"])
def test_nothing_listening_is_a_connection_error(transport: str) -> None:
    [answer] = post_each(client(f"http://127.0.0.1:{free_port()}/v1", transport=transport), [])
    assert isinstance(answer, ChatConnectionError)


@pytest.mark.server
def test_the_lean_pool_keeps_one_connection_alive(llama_server: RunningServer) -> None:
    chat = client(llama_server.base_url)
    answers = post_each(chat, [0.0, 0.0])
    assert all(not isinstance(a, Exception) for a in answers), answers
    assert all("Paris" in a["choices"][0]["message"]["content"] for a in answers)
    assert chat.transport_name == "LeanTransport"
    assert chat._transport.connections_opened == 1  # type: ignore[attr-defined]


@pytest.mark.server
def test_a_connection_the_server_closed_while_idle_is_replaced(llama_server: RunningServer) -> None:
    # uvicorn (llama.cpp's Python server) closes a kept-alive connection after 5 idle seconds.
    chat = client(llama_server.base_url)
    started = time.monotonic()
    first, second = post_each(chat, [6.0])
    assert not isinstance(first, Exception) and not isinstance(second, Exception), (first, second)
    assert chat._transport.connections_opened == 2  # type: ignore[attr-defined]
    assert time.monotonic() - started < 30  # replaced at once, not after a retry's back-off


@pytest.mark.server
def test_a_server_that_closes_after_each_answer(llama_server: RunningServer) -> None:
    # The fault-injecting proxy speaks HTTP/1.0: no keep-alive, every answer ends its connection.
    with FaultyProxy(llama_server.root_url) as proxy:
        chat = client(proxy.base_url)
        answers = post_each(chat, [0.0])
        assert all(not isinstance(a, Exception) for a in answers), answers
        assert chat._transport.connections_opened == 2  # type: ignore[attr-defined]
        assert proxy.attempts == 2


@pytest.mark.server
def test_the_aiohttp_transport_retries_by_the_same_rules(llama_server: RunningServer) -> None:
    with FaultyProxy(llama_server.root_url, faults=[429, 500]) as proxy:
        chat = client(proxy.base_url, transport="aiohttp", max_retries=3)
        [answer] = post_each(chat, [])
        assert not isinstance(answer, Exception), answer
        assert "Paris" in answer["choices"][0]["message"]["content"]
        assert proxy.attempts == 3
        assert chat.throttled == 1
