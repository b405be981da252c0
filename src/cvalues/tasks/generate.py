"""The free-form generation task: one request per prompt and sample, one sample line per reply.

A prompt's history (CHiSafetyBench's multi-turn set, a user's ``history`` column) is sent as the
messages before it, system turns included. Each reply is classified as a refusal or not by the
rule-based classifier (``scoring.refusal``); the judges come later, in ``cvalues judge``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cvalues.core.errors import InputError
from cvalues.core.requests import GenerationSettings, Message, ModelRequest, ModelResponse
from cvalues.data.items import PromptItem
from cvalues.models.chat import chat_messages
from cvalues.scoring.reasoning import split_reasoning
from cvalues.scoring.refusal import classify_refusal
from cvalues.tasks.run import RequestGroup, sample_seeds

MAX_SAMPLES = 100


def check_samples(n_samples: int, settings: GenerationSettings) -> None:
    """Several samples per prompt differ only by their seed, so they need sampling (temperature > 0):
    greedy decoding would write the same reply n times."""
    if not 1 <= n_samples <= MAX_SAMPLES:
        raise InputError(f"must be between 1 and {MAX_SAMPLES}, got {n_samples}", flag="--samples")
    if n_samples > 1 and settings.temperature <= 0:
        raise InputError(
            f"{n_samples} samples per prompt need --temperature > 0: greedy decoding writes the same "
            "reply every time (sample k uses seed + k)",
            flag="--samples",
        )


def request_for(item: PromptItem) -> ModelRequest:
    """The prompt after its history, as chat messages."""
    turns = tuple(Message(role, content) for role, content in item.history)  # type: ignore[arg-type]
    return ModelRequest(messages=(*turns, Message("user", item.prompt)))


def request_groups(
    items: list[PromptItem], settings: GenerationSettings, n_samples: int
) -> list[RequestGroup]:
    """One group per sample index: the same requests, with that sample's seed."""
    requests = [request_for(item) for item in items]
    seeds = sample_seeds(settings.seed, n_samples, temperature=settings.temperature)
    return [
        RequestGroup(
            settings=replace(settings, seed=seed),
            requests=requests,
            description="generate" if n_samples == 1 else f"generate {k + 1}/{n_samples}",
        )
        for k, seed in enumerate(seeds)
    ]


def reply_record(
    item: PromptItem,
    sample: int,
    settings: GenerationSettings,
    request: ModelRequest,
    response: ModelResponse,
    request_hash: str,
) -> dict[str, Any]:
    """One line of samples.jsonl: the reply, what was sent to get it, and its refusal class."""
    # A reasoning model's thinking (in <think> or a server's reasoning field) is stored apart and
    # never read as the reply: the refusal is decided on the final answer.
    refusal, rule = (
        classify_refusal(response.text, response.reasoning)
        if response.ok and response.text is not None
        else (None, None)
    )
    return {
        "id": item.id,
        "sample": sample,
        "seed": settings.seed,
        "level": item.level,
        "domain": item.domain,
        "scenario": item.scenario,
        "should_answer": item.should_answer,
        "prompt": item.prompt,
        "history": [list(turn) for turn in item.history],
        "messages": chat_messages(request, settings),
        "response": response.text if response.ok else None,
        "reasoning": split_reasoning(response.text, response.reasoning).reasoning
        if response.ok and response.text
        else None,
        "refusal": refusal,
        "refusal_rule": rule,
        "references": list(item.references),
        "request_hash": request_hash,
        "error": response.error,
    }


__all__ = ["MAX_SAMPLES", "check_samples", "reply_record", "request_for", "request_groups"]
