"""A model run in-process by vLLM on the GPU: ``vllm:<dir-or-hub-id>``.

``generate`` uses ``LLM.chat`` (the tokenizer's chat template; a tokenizer without one gets the
plain ``User: ...`` / ``Assistant:`` template of ``models.chat``). ``choices`` are scored exactly:
each prompt + choice is sent as token ids with ``SamplingParams(prompt_logprobs=1)``, and vLLM
returns the log-probability of every prompt token given the ones before it; the choice's tokens
(see ``models.chat.tokenize_choices``) are summed.

With a conversation format (``--chat-format``, ``models.chat_formats``) the prompt is that
format's string, sent with ``LLM.generate`` and the format's stop strings.

vLLM is an optional dependency, imported only when this backend is created.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from cvalues.core.backend import ModelSpec
from cvalues.core.errors import BackendError
from cvalues.core.requests import GenerationSettings, ModelRequest, ModelResponse
from cvalues.models.chat import ChatMessage, chat_messages, drop_cut_character, tokenize_choices
from cvalues.models.chat_formats import ChatFormat, chat_format_for

# The Jinja form of models.chat.plain_chat_prompt, for tokenizers without a chat template.
PLAIN_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] | capitalize }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


class VLLMBackend:
    def __init__(self, spec: ModelSpec, *, batch_size: int = 64, dtype: str = "auto") -> None:
        try:
            import vllm
        except ImportError:
            raise BackendError("vllm is not installed: pip install vllm") from None
        self._chat_format = chat_format_for(spec)
        self.spec = spec
        # vLLM schedules a large batch itself; one call at a time keeps the GPU to one engine.
        self.batch_size = max(1, batch_size)
        self.max_concurrency = 1
        self._vllm = vllm
        self._llm = vllm.LLM(model=spec.name, dtype=dtype, trust_remote_code=spec.trust_remote_code)
        self._tokenizer = self._llm.get_tokenizer()
        self._template = None if getattr(self._tokenizer, "chat_template", None) else PLAIN_CHAT_TEMPLATE

    async def complete(
        self, requests: Sequence[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        return await asyncio.to_thread(self._complete_blocking, list(requests), settings)

    async def aclose(self) -> None:
        return None

    def _complete_blocking(
        self, requests: list[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        started = time.perf_counter()
        responses: list[ModelResponse] = []
        try:
            by_kind = {
                kind: [i for i, r in enumerate(requests) if r.kind == kind]
                for kind in ("generate", "choices")
            }
            answers: dict[int, ModelResponse] = {}
            generated = self._generate([requests[i] for i in by_kind["generate"]], settings)
            answers.update(zip(by_kind["generate"], generated, strict=True))
            scored = self._choices([requests[i] for i in by_kind["choices"]], settings)
            answers.update(zip(by_kind["choices"], scored, strict=True))
            responses = [answers[i] for i in range(len(requests))]
        except Exception as exc:  # recorded per request, as every backend does
            responses = [ModelResponse(error=f"{type(exc).__name__}: {exc}") for _ in requests]
        per_request = (time.perf_counter() - started) / max(1, len(requests))
        for response in responses:
            response.latency_s = per_request
        return responses

    def _generate(self, requests: list[ModelRequest], settings: GenerationSettings) -> list[ModelResponse]:
        if not requests:
            return []
        params = self._vllm.SamplingParams(
            temperature=settings.temperature,
            top_p=settings.top_p if settings.top_p is not None else 1.0,
            max_tokens=settings.max_tokens,
            seed=settings.seed,
            stop=list(self._chat_format.stop) if self._chat_format is not None else None,
        )
        conversations = [chat_messages(r, settings) for r in requests]
        if self._chat_format is not None:
            prompts = [self._render(c) for c in conversations]
            outputs = self._llm.generate(prompts, params, use_tqdm=False)
        else:
            outputs = self._llm.chat(conversations, params, use_tqdm=False, chat_template=self._template)
        responses = []
        for output in outputs:
            completion = output.outputs[0]
            responses.append(
                ModelResponse(
                    text=drop_cut_character(completion.text, completion.finish_reason),
                    input_tokens=len(output.prompt_token_ids or []),
                    output_tokens=len(completion.token_ids),
                    extra={"finish_reason": completion.finish_reason},
                )
            )
        return responses

    def _render(self, messages: list[ChatMessage]) -> str:
        if self._chat_format is not None:
            return self._chat_format.render(messages).prompt
        return self._tokenizer.apply_chat_template(
            messages, chat_template=self._template, tokenize=False, add_generation_prompt=True
        )

    def _encode(self, text: str) -> list[int]:
        # As LLM.chat does: the chat template writes the special tokens itself; a built-in format's
        # prompt is tokenized with the tokenizer's own (as LLM.generate does with a string).
        return self._tokenizer.encode(text, add_special_tokens=isinstance(self._chat_format, ChatFormat))

    def _choices(self, requests: list[ModelRequest], settings: GenerationSettings) -> list[ModelResponse]:
        if not requests:
            return []
        plans = [
            tokenize_choices(self._encode, self._encode, self._render(chat_messages(r, settings)), r.choices)
            for r in requests
        ]
        prompts: list[dict[str, Any]] = [
            {"prompt_token_ids": plan.prompt_ids + continuation}
            for plan in plans
            for continuation in plan.continuations
        ]
        params = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1)
        outputs = iter(self._llm.generate(prompts, params, use_tqdm=False))
        responses = []
        for request, plan in zip(requests, plans, strict=True):
            logprobs = {}
            for choice, continuation in zip(request.choices, plan.continuations, strict=True):
                output = next(outputs)
                ids = output.prompt_token_ids
                start = len(plan.prompt_ids)
                # prompt_logprobs[i] maps token ids to Logprob at position i; it always holds the
                # prompt's own token there.
                logprobs[choice] = sum(
                    output.prompt_logprobs[i][ids[i]].logprob for i in range(start, start + len(continuation))
                )
            extra = {"tokenization_boundary_merged": plan.boundary_merged} if plan.boundary_merged else {}
            responses.append(
                ModelResponse(
                    choice_logprobs=logprobs, input_tokens=len(plan.prompt_ids), output_tokens=0, extra=extra
                )
            )
        return responses
