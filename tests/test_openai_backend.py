"""The OpenAI-compatible backend against a real llama.cpp server, directly and through a faulty proxy."""

from __future__ import annotations

import asyncio
import math

import pytest

from cvalues.core.backend import ModelSpec
from cvalues.core.errors import BackendError
from cvalues.core.requests import GenerationSettings, Message, ModelRequest, ModelResponse
from cvalues.models.openai_backend import OpenAIBackend
from faulty_proxy import RETRY_AFTER_S, FaultyProxy
from servers import SERVER_MODEL_ALIAS, RunningServer, free_port

NO_KEY_ENV = "CVALUES_TEST_UNSET_API_KEY"
GREEDY = GenerationSettings(temperature=0.0, max_tokens=24)
CAPITAL = "What is the capital of France? Answer in one word."
SKY = "Is the sky blue? Answer Yes or No."


def ask(text: str, *, choices: tuple[str, ...] = ()) -> ModelRequest:
    kind = "choices" if choices else "generate"
    return ModelRequest(messages=(Message("user", text),), kind=kind, choices=choices)


def complete_one(
    backend: OpenAIBackend, request: ModelRequest, settings: GenerationSettings = GREEDY
) -> ModelResponse:
    async def run() -> ModelResponse:
        try:
            return (await backend.complete([request], settings))[0]
        finally:
            await backend.aclose()

    return asyncio.run(run())


def local_backend(base_url: str, monkeypatch: pytest.MonkeyPatch, **options: float) -> OpenAIBackend:
    monkeypatch.delenv(NO_KEY_ENV, raising=False)
    spec = ModelSpec(provider="openai", name=SERVER_MODEL_ALIAS, base_url=base_url, api_key_env=NO_KEY_ENV)
    return OpenAIBackend(spec, **options)  # type: ignore[arg-type]


# ---- without a server ----


def test_missing_api_key_without_base_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NO_KEY_ENV, raising=False)
    with pytest.raises(BackendError, match=NO_KEY_ENV):
        OpenAIBackend(ModelSpec(provider="openai", name="gpt-4o-mini", api_key_env=NO_KEY_ENV))


def test_api_key_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NO_KEY_ENV, "sk-test")
    backend = OpenAIBackend(
        ModelSpec(provider="openai", name="gpt-4o-mini", api_key_env=NO_KEY_ENV), concurrency=3
    )
    assert (backend.batch_size, backend.max_concurrency) == (1, 3)
    assert backend.api_key == "sk-test"
    asyncio.run(backend.aclose())


def test_dead_port_gives_an_error_response_after_bounded_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = local_backend(f"http://127.0.0.1:{free_port()}/v1", monkeypatch, max_retries=1, timeout_s=5)
    response = complete_one(backend, ask(CAPITAL))
    assert not response.ok
    assert response.text is None
    assert "cannot connect" in response.error
    assert "after 1 retry" in response.error


# ---- against the real server ----


@pytest.mark.server
def test_generation_is_greedy_and_records_usage(
    llama_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = complete_one(local_backend(llama_server.base_url, monkeypatch), ask(CAPITAL))
    second = complete_one(local_backend(llama_server.base_url, monkeypatch), ask(CAPITAL))
    assert first.ok, first.error
    assert "Paris" in first.text
    assert second.text == first.text
    assert first.input_tokens > 10 and 0 < first.output_tokens <= GREEDY.max_tokens
    assert first.latency_s > 0
    assert first.extra["finish_reason"] == "stop"


@pytest.mark.server
def test_system_prompt_is_sent_first(llama_server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = complete_one(local_backend(llama_server.base_url, monkeypatch), ask(CAPITAL))
    long_system = "You are a geography teacher. " * 8
    settings = GenerationSettings(max_tokens=8, system_prompt=long_system)
    with_system = complete_one(local_backend(llama_server.base_url, monkeypatch), ask(CAPITAL), settings)
    assert with_system.ok, with_system.error
    # SmolLM2's template replaces its default system prompt with ours, which is much longer.
    assert with_system.input_tokens > plain.input_tokens + 30


@pytest.mark.server
def test_choices_are_scored_from_top_logprobs(
    llama_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = complete_one(
        local_backend(llama_server.base_url, monkeypatch), ask(SKY, choices=("Yes", "No", "Zebra"))
    )
    assert response.ok, response.error
    scores = response.choice_logprobs
    assert set(scores) == {"Yes", "No", "Zebra"}
    assert math.isfinite(scores["Yes"]) and math.isfinite(scores["No"])
    assert scores["Yes"] < 0 and scores["No"] < 0
    # The greedy reply starts with the better of the two.
    best = max(("Yes", "No"), key=scores.__getitem__)
    assert response.extra["greedy_text"].startswith(best)
    assert scores["Zebra"] is None  # unreachable: stored as JSON null, never -inf
    assert response.extra["unreachable"] == ["Zebra"]


@pytest.mark.server
@pytest.mark.model
def test_choice_scores_match_the_exact_in_process_scores(
    llama_server: RunningServer, smollm2_backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same weights through llama.cpp (greedy walk) and transformers (exact) agree."""
    request = ask(SKY, choices=("Yes", "No"))
    served = complete_one(local_backend(llama_server.base_url, monkeypatch), request)
    exact = asyncio.run(smollm2_backend.complete([request], GREEDY))[0]
    assert served.ok and exact.ok
    for choice in ("Yes", "No"):
        # llama.cpp computes with Q4_1 blocks, transformers with the de-quantised float32 weights.
        assert served.choice_logprobs[choice] == pytest.approx(exact.choice_logprobs[choice], abs=0.25)


@pytest.mark.server
def test_429_and_500_are_retried_honouring_retry_after(
    llama_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FaultyProxy(llama_server.root_url, faults=[429, 500]) as proxy:
        response = complete_one(local_backend(proxy.base_url, monkeypatch, max_retries=3), ask(CAPITAL))
        assert response.ok, response.error
        assert "Paris" in response.text
        assert proxy.attempts == 3
        # The SDK waited as Retry-After said before its second attempt.
        assert proxy.arrivals[1] - proxy.arrivals[0] >= RETRY_AFTER_S - 0.05


@pytest.mark.server
def test_persistent_failure_becomes_an_error_response(
    llama_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FaultyProxy(llama_server.root_url, faults=[500] * 5) as proxy:
        response = complete_one(local_backend(proxy.base_url, monkeypatch, max_retries=2), ask(CAPITAL))
        assert not response.ok
        assert response.error.startswith("HTTP 500")
        assert "after 2 retries" in response.error
        assert proxy.attempts == 3


@pytest.mark.server
def test_a_200_with_a_body_that_is_not_json_is_retried(
    llama_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FaultyProxy(llama_server.root_url, faults=[200, 200]) as proxy:
        response = complete_one(local_backend(proxy.base_url, monkeypatch, max_retries=3), ask(CAPITAL))
        assert response.ok, response.error
        assert "Paris" in response.text and proxy.attempts == 3
    with FaultyProxy(llama_server.root_url, faults=[200] * 5) as proxy:
        response = complete_one(local_backend(proxy.base_url, monkeypatch, max_retries=1), ask(CAPITAL))
        assert not response.ok and "after 1 retry" in response.error and proxy.attempts == 2
