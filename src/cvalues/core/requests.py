"""What the executor sends to a backend and gets back, and the request hash that keys the cache."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

RequestKind = Literal["generate", "choices", "reward"]


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class GenerationSettings:
    """Generation settings recorded in every run. Greedy by default, as the paper's evaluation."""

    temperature: float = 0.0
    max_tokens: int = 256
    top_p: float | None = None
    seed: int | None = None
    system_prompt: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # Spelled out rather than dataclasses.asdict (a recursive deep copy): this runs for every
        # request hash, and the executor's per-request cost is a product goal.
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "seed": self.seed,
            "system_prompt": self.system_prompt,
        }


@dataclass(frozen=True)
class ModelRequest:
    """One call to a model.

    ``generate``: produce text after ``messages``.
    ``choices``: return the log-probability of each string in ``choices`` as the start of
    the assistant's reply after ``messages`` (no text is generated, so nothing can fail to parse).
    ``reward``: a reward model's scalar score of the conversation in ``messages`` (its last
    message is the reply being scored), in ``extra["reward"]``.
    """

    messages: tuple[Message, ...]
    kind: RequestKind = "generate"
    choices: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "choices": list(self.choices),
        }


@dataclass
class ModelResponse:
    """What came back. Exactly one of ``text`` / ``choice_logprobs`` is set unless ``error`` is.

    A choice the backend could not score has ``None`` in ``choice_logprobs`` (never ``-inf``,
    which JSON columns such as PostgreSQL's reject). ``reasoning`` is the thinking a server
    returned apart from the reply (``reasoning_content``); it is stored, never parsed as the answer."""

    text: str | None = None
    choice_logprobs: dict[str, float | None] | None = None
    error: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    reasoning: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        # Spelled out rather than dataclasses.asdict, which deep-copies field by field; every saved
        # answer goes through here. ``extra`` and ``choice_logprobs`` are copied (JSON values).
        return {
            "text": self.text,
            "reasoning": self.reasoning,
            "choice_logprobs": None if self.choice_logprobs is None else dict(self.choice_logprobs),
            "error": self.error,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "latency_s": self.latency_s,
            "extra": copy.deepcopy(self.extra),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelResponse:
        return cls(**data)


# The error of a request never sent because its prompt does not fit the model's context window
# (``execute.screen``): recorded in samples.jsonl, counted apart from failures (not retried).
SKIPPED_PREFIX = "skipped: "


def skipped_error(reason: str) -> str:
    return SKIPPED_PREFIX + reason


def is_skipped(error: object) -> bool:
    """Whether a sample's or response's ``error`` says the request was skipped, not failed."""
    return isinstance(error, str) and error.startswith(SKIPPED_PREFIX)


def request_hash(model_key: str, settings: GenerationSettings, request: ModelRequest) -> str:
    """sha256 of everything that determines a model's answer: model identity, settings, request.

    ``model_key`` is the model spec without transport details (base URL, API key), so the same
    model served on another port re-uses its cached answers.
    """
    payload = {"model": model_key, "settings": settings.to_dict(), "request": request.to_dict()}
    canonical = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
