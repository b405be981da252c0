"""Screening requests against the model's context window before any is sent.

A prompt that cannot fit is never sent to fail late (a 5-million-character prompt to SmolLM2 died
in the CPU allocator after a minute and failed the run). ``screen_requests`` sorts the requests of
a run into those kept (possibly truncated, with ``truncate="left"|"right"``) and those skipped,
each with a reason for ``samples.jsonl``.

The count is cheap first: every token of a byte-level or byte-fallback vocabulary covers at least
one UTF-8 byte, so the bytes of the messages (plus a margin for the chat template) bound the
prompt's tokens from above; nearly every item passes on that alone. Only a prompt over that bound
is counted exactly, with the model's tokenizer where it loads cheaply (``models.context``);
without one, a prompt is skipped only when even a generous lower bound (``MAX_BYTES_PER_TOKEN``
bytes per token) is over the window, and left to the server's own check otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from cvalues.core.backend import ModelSpec
from cvalues.core.requests import GenerationSettings, Message, ModelRequest, ModelResponse, skipped_error
from cvalues.execute.executor import ExecutionResult
from cvalues.models.context import TokenCounter, context_window, template_tokens, token_counter

Truncate = Literal["left", "right"]
TRUNCATE_SIDES: tuple[str, ...] = ("left", "right")
# What a chat template adds around each message (role markers, separators) and once per prompt
# (BOS, the assistant header, a default system prompt). Generous: real templates add 3-10 tokens a
# message, and default system prompts such as SmolLM2's ~30. Where the model's own template and
# tokenizer are at hand, its measured allowance replaces the one per prompt (``template_tokens``).
TEMPLATE_TOKENS_PER_MESSAGE = 12
TEMPLATE_TOKENS_PER_PROMPT = 48
# No tokenizer merges more bytes than this into one token in practice (long runs of spaces or
# '=' reach ~32 in large vocabularies), so bytes / 64 is a safe lower bound on the count.
MAX_BYTES_PER_TOKEN = 64
# The most tokens a choices request asks for (models.openai_backend's MAX_CHOICE_TOKENS).
CHOICE_TOKENS = 32


@dataclass(frozen=True)
class SkippedRequest:
    index: int
    reason: str
    prompt_tokens: int  # exact when counted, else the lower bound


@dataclass
class ScreenResult:
    kept: list[tuple[int, ModelRequest]] = field(default_factory=list)  # (index in the input, request)
    skipped: list[SkippedRequest] = field(default_factory=list)
    truncated: list[int] = field(default_factory=list)  # indices whose prompt was cut

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)


def screen_requests(
    requests: Sequence[ModelRequest],
    limit: int | None,
    truncate: Truncate | None = None,
    *,
    settings: GenerationSettings | None = None,
    count_tokens: TokenCounter | None = None,
    template: int | None = None,
) -> ScreenResult:
    """Keep the requests that fit ``limit`` tokens (prompt plus the reply's budget), cut the ones
    that do not when ``truncate`` says from which side, skip the rest with a reason. ``limit``
    None (window unknown) keeps everything as it is. ``template``: the tokens the model's chat
    template adds around one user message, measured (else a generous fixed allowance)."""
    result = ScreenResult()
    settings = settings or GenerationSettings()
    for index, request in enumerate(requests):
        if limit is None:
            result.kept.append((index, request))
            continue
        budget = limit - _reply_tokens(request, settings)
        fits, tokens = _fits(request, settings, budget, count_tokens, template)
        if fits:
            result.kept.append((index, request))
            continue
        cut = _truncated(request, settings, budget, truncate, count_tokens, template) if truncate else None
        if cut is not None:
            result.kept.append((index, cut))
            result.truncated.append(index)
            continue
        reason = (
            f"prompt needs {'about ' if count_tokens else 'at least '}{tokens:,} tokens, over the model's "
            f"context window of {limit:,} (less {limit - budget:,} for the reply); "
            "skipped (use --truncate left|right to cut it instead)"
            if budget > 0
            else f"the reply's {limit - budget:,} tokens alone fill the context window of {limit:,}"
        )
        result.skipped.append(SkippedRequest(index=index, reason=reason, prompt_tokens=tokens))
    return result


def screen_for_model(
    spec: ModelSpec,
    requests: Sequence[ModelRequest],
    settings: GenerationSettings,
    truncate: Truncate | None = None,
    *,
    limit: int | None = None,
) -> ScreenResult:
    """``screen_requests`` with the model's own window (``limit`` overrides it) and, where it loads
    cheaply, its tokenizer. What a run calls once, after building its requests and before sending
    any; the tokenizer is loaded only when some prompt is over the cheap bound."""
    window = limit if limit is not None else context_window(spec)
    if window is None:
        return screen_requests(requests, None)
    first = screen_requests(requests, window, None, settings=settings)
    if not first.skipped and not _near_the_limit(requests, settings, window):
        return first
    return screen_requests(
        requests,
        window,
        truncate,
        settings=settings,
        count_tokens=token_counter(spec),
        template=template_tokens(spec),
    )


def kept_requests(result: ScreenResult) -> list[ModelRequest]:
    """What is sent: the requests that fit, some of them cut, in their input order."""
    return [request for _, request in result.kept]


def with_skipped(execution: ExecutionResult, result: ScreenResult, n_requests: int) -> ExecutionResult:
    """The execution of ``kept_requests(result)`` widened back to all ``n_requests`` positions: a
    skipped one gets a response whose error gives the reason (``core.requests.is_skipped``) and no
    hash (nothing was asked, nothing is stored)."""
    responses: list[ModelResponse] = [ModelResponse() for _ in range(n_requests)]
    hashes = [""] * n_requests
    for (index, _), response, request_hash in zip(
        result.kept, execution.responses, execution.hashes, strict=True
    ):
        responses[index] = response
        hashes[index] = request_hash
    for skipped in result.skipped:
        responses[skipped.index] = ModelResponse(error=skipped_error(skipped.reason))
    return replace(
        execution,
        responses=responses,
        hashes=hashes,
        n_skipped=len(result.skipped),
        n_truncated=len(result.truncated),
    )


def merged(results: Sequence[ScreenResult]) -> ScreenResult:
    """One result counting the skipped and cut requests of several (a run's request groups)."""
    total = ScreenResult()
    for result in results:
        total.skipped += result.skipped
        total.truncated += result.truncated
    return total


def describe_screen(result: ScreenResult, limit: int | None) -> str | None:
    """One line for the console before the run starts, or None when nothing was skipped or cut."""
    if not result.skipped and not result.truncated:
        return None
    parts = []
    if result.skipped:
        parts.append(f"{result.n_skipped} item(s) skipped: longer than the context window ({limit:,} tokens)")
    if result.truncated:
        parts.append(
            f"{len(result.truncated)} prompt(s) truncated to fit the context window ({limit:,} tokens)"
        )
    return "; ".join(parts)


def _near_the_limit(requests: Sequence[ModelRequest], settings: GenerationSettings, limit: int) -> bool:
    """Whether a prompt is over the byte upper bound (kept without a tokenizer, undecided)."""
    for request in requests:
        texts = _prompt_messages(request, settings)
        upper = sum(len(t.encode("utf-8")) for t in texts) + _overhead(len(texts))
        if upper > limit - _reply_tokens(request, settings):
            return True
    return False


def _reply_tokens(request: ModelRequest, settings: GenerationSettings) -> int:
    return CHOICE_TOKENS if request.kind == "choices" else settings.max_tokens


def _prompt_messages(request: ModelRequest, settings: GenerationSettings) -> list[str]:
    texts = [m.content for m in request.messages]
    if settings.system_prompt and not any(m.role == "system" for m in request.messages):
        texts.append(settings.system_prompt)
    return texts


def _overhead(n_messages: int, template: int | None = None) -> int:
    if template is not None:  # measured around one message; the others get the fixed allowance
        return template + TEMPLATE_TOKENS_PER_MESSAGE * max(n_messages - 1, 0)
    return TEMPLATE_TOKENS_PER_PROMPT + TEMPLATE_TOKENS_PER_MESSAGE * n_messages


def _fits(
    request: ModelRequest,
    settings: GenerationSettings,
    budget: int,
    count_tokens: TokenCounter | None,
    template: int | None = None,
) -> tuple[bool, int]:
    """(fits, the prompt's token count: exact with a counter, else the lower bound)."""
    texts = _prompt_messages(request, settings)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    overhead = _overhead(len(texts), template)
    if n_bytes + overhead <= budget:  # the upper bound fits: no need to count
        return True, n_bytes + overhead
    lower = -(-n_bytes // MAX_BYTES_PER_TOKEN) + overhead
    if lower > budget:  # even the lower bound is over: no need to count either
        return False, lower
    if count_tokens is None:
        return True, lower  # undecidable cheaply: the server's own check decides
    exact = sum(count_tokens(t) for t in texts) + overhead
    return exact <= budget, exact


def _truncated(
    request: ModelRequest,
    settings: GenerationSettings,
    budget: int,
    side: Truncate,
    count_tokens: TokenCounter | None,
    template: int | None = None,
) -> ModelRequest | None:
    """The request with its longest message cut (from ``side``) to fit, or None when even an empty
    message would not fit."""
    messages = list(request.messages)
    if not messages:
        return None
    longest = max(range(len(messages)), key=lambda i: len(messages[i].content))
    text = messages[longest].content
    others = [m.content for i, m in enumerate(messages) if i != longest]
    if settings.system_prompt and not any(m.role == "system" for m in messages):
        others.append(settings.system_prompt)
    count = count_tokens or (lambda t: len(t.encode("utf-8")))  # without a tokenizer: the upper bound
    room = budget - _overhead(len(others) + 1, template) - sum(count(t) for t in others)
    if room <= 0:
        return None
    keep = _longest_fitting(text, room, side, count)
    if keep == 0:
        return None
    kept_text = text[-keep:] if side == "left" else text[:keep]
    messages[longest] = Message(role=messages[longest].role, content=kept_text)
    return replace(request, messages=tuple(messages))


def _longest_fitting(text: str, room: int, side: Truncate, count: TokenCounter) -> int:
    """How many characters of ``text`` (kept on the side opposite ``side``) fit in ``room`` tokens.
    A token covers at most ``MAX_BYTES_PER_TOKEN`` bytes (so at most that many characters), which
    caps the search; a binary search on the count finds the longest piece."""
    low, high = 0, min(len(text), room * MAX_BYTES_PER_TOKEN)
    while low < high:
        middle = (low + high + 1) // 2
        piece = text[-middle:] if side == "left" else text[:middle]
        if count(piece) <= room:
            low = middle
        else:
            high = middle - 1
    return low
