"""The transformers backend on the real SmolLM2 model (CPU)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
import torch

from cvalues.core.backend import ModelSpec
from cvalues.core.requests import GenerationSettings, Message, ModelRequest, ModelResponse
from cvalues.models.transformers import TransformersBackend
from cvalues.models.transformers.loading import gguf_cache_dir

pytestmark = pytest.mark.model

GREEDY = GenerationSettings(temperature=0.0, max_tokens=16)
QUESTIONS = (
    "What is 2+2?",
    "Name one colour of the rainbow, then explain in two sentences why rainbows appear after rain.",
    "请用一句话介绍中国的长城，并说明它的历史意义。",
)


def ask(text: str, *, choices: tuple[str, ...] = ()) -> ModelRequest:
    kind = "choices" if choices else "generate"
    return ModelRequest(messages=(Message("user", text),), kind=kind, choices=choices)


def complete(
    backend: TransformersBackend, requests: list[ModelRequest], settings: GenerationSettings = GREEDY
) -> list[ModelResponse]:
    return asyncio.run(backend.complete(requests, settings))


def direct_logprob(backend: TransformersBackend, request: ModelRequest, choice: str) -> float:
    """log P(choice | prompt) from one unpadded forward pass over the whole sequence."""
    tokenizer, model = backend.loaded.tokenizer, backend.loaded.model
    prompt = backend.prompt_text(request, GREEDY)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(prompt + choice, add_special_tokens=False)["input_ids"]
    assert full_ids[: len(prompt_ids)] == prompt_ids
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([full_ids])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return sum(float(logprobs[i - 1, full_ids[i]]) for i in range(len(prompt_ids), len(full_ids)))


def test_greedy_generation_is_deterministic(smollm2_backend: TransformersBackend) -> None:
    first, second = (
        complete(smollm2_backend, [ask(QUESTIONS[0])]),
        complete(smollm2_backend, [ask(QUESTIONS[0])]),
    )
    assert first[0].ok, first[0].error
    assert first[0].text.strip()
    assert first[0].text == second[0].text
    assert first[0].input_tokens > 5 and 0 < first[0].output_tokens <= GREEDY.max_tokens
    assert first[0].latency_s > 0


def test_a_padded_batch_equals_one_at_a_time(smollm2_backend: TransformersBackend) -> None:
    requests = [ask(q) for q in QUESTIONS]
    prompt_lengths = {
        len(smollm2_backend.encode_prompt(smollm2_backend.prompt_text(r, GREEDY))) for r in requests
    }
    assert len(prompt_lengths) == len(QUESTIONS)  # differing lengths, so the batch is really padded
    batched = complete(smollm2_backend, requests)
    alone = [complete(smollm2_backend, [r])[0] for r in requests]
    assert [r.text for r in batched] == [r.text for r in alone]
    assert [r.output_tokens for r in batched] == [r.output_tokens for r in alone]
    # A reply that hit max_tokens says so; one that ended at EOS says stop.
    for response in batched:
        expected = "length" if response.output_tokens == GREEDY.max_tokens else "stop"
        assert response.extra["finish_reason"] == expected


def test_seeded_sampling_is_reproducible_and_independent_of_the_batch(
    smollm2_backend: TransformersBackend,
) -> None:
    settings = GenerationSettings(temperature=1.0, max_tokens=12, seed=7)
    requests = [ask(q) for q in QUESTIONS[:2]]
    batched = complete(smollm2_backend, requests, settings)
    alone = complete(smollm2_backend, requests[1:], settings)
    assert batched[1].text == alone[0].text
    other_seed = complete(
        smollm2_backend, requests[1:], GenerationSettings(temperature=1.0, max_tokens=12, seed=8)
    )
    greedy = complete(smollm2_backend, requests[1:], GenerationSettings(max_tokens=12))
    # Sampling really samples: another seed, or greedy decoding, gives another text (all deterministic).
    assert other_seed[0].text != alone[0].text or greedy[0].text != alone[0].text


def test_choice_logprobs_equal_a_direct_full_sequence_computation(
    smollm2_backend: TransformersBackend,
) -> None:
    shared_prefix = ask("以下两个回复哪个更安全？请回答回复1或回复2。", choices=("回复1", "回复2"))
    differing = ask("Is the sky blue? Answer Yes or No.", choices=("Yes", "No", "Maybe not"))
    plan = smollm2_backend.choice_tokens(shared_prefix, GREEDY)
    assert plan.shared_prefix()  # "回复1"/"回复2" go through the one-forward-pass path
    assert smollm2_backend.choice_tokens(differing, GREEDY).shared_prefix() is None
    responses = complete(smollm2_backend, [shared_prefix, ask(QUESTIONS[0]), differing])
    assert responses[1].text  # a generate request mixed into the batch is answered in place
    for request, response in ((shared_prefix, responses[0]), (differing, responses[2])):
        assert response.ok, response.error
        assert list(response.choice_logprobs) == list(request.choices)
        for choice, logprob in response.choice_logprobs.items():
            assert math.isfinite(logprob) and logprob < 0
            assert logprob == pytest.approx(direct_logprob(smollm2_backend, request, choice), abs=1e-3)


def test_a_failing_batch_is_retried_one_request_at_a_time(
    smollm2_backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = smollm2_backend._generate

    def fails_on_batches_and_on_the_colour_question(requests, settings):
        if len(requests) > 1 or requests[0].messages[0].content == QUESTIONS[1]:
            raise RuntimeError("CUDA out of memory (simulated)")
        return original(requests, settings)

    monkeypatch.setattr(smollm2_backend, "_generate", fails_on_batches_and_on_the_colour_question)
    responses = complete(smollm2_backend, [ask(q) for q in QUESTIONS])
    assert [r.ok for r in responses] == [True, False, True]
    assert responses[1].error == "RuntimeError: CUDA out of memory (simulated)"
    assert responses[0].text and responses[2].text


def test_a_second_load_reads_the_converted_cache(
    smollm2_backend: TransformersBackend,
    smollm2_gguf: Path,
    cvalues_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    converted = gguf_cache_dir(smollm2_gguf, cvalues_cache)
    assert smollm2_backend.loaded.converted_now
    assert Path(smollm2_backend.loaded.source) == converted
    assert (converted / "config.json").is_file()
    monkeypatch.setenv("CVALUES_CACHE", str(cvalues_cache))
    again = TransformersBackend(ModelSpec(provider="gguf", name=str(smollm2_gguf)), device="cpu")
    assert not again.loaded.converted_now
    assert Path(again.loaded.source) == converted
    # Nothing half-written is left beside the cache entry.
    assert [p.name for p in converted.parent.iterdir()] == [converted.name]
    request = ask(QUESTIONS[0])
    assert complete(again, [request])[0].text == complete(smollm2_backend, [request])[0].text
