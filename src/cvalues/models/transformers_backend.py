"""A local model run with transformers: ``hf:<dir-or-hub-id>`` and ``gguf:<file.gguf>``.

Prompts use the tokenizer's chat template (``add_generation_prompt=True``); a tokenizer without
one (a base model) gets the plain ``User: ...`` / ``Assistant:`` prompt of ``models.chat``.

``generate``: a batch is left-padded and decoded together; only the new tokens are decoded,
special tokens skipped, stopping at EOS. ``temperature == 0`` is greedy. Otherwise sampling is
done as Gumbel-max over the temperature/top-p adjusted scores with one ``torch.Generator`` per
row seeded from ``settings.seed``, so a request's sample depends on the request and the seed,
not on which other requests share its batch.

``choices``: log P(choice | chat prompt), exact, from the model's own log-softmax. When the
choices differ only in their last token (the usual "回复1" / "回复2"), one forward pass over
prompt + shared prefix scores them all; otherwise each prompt + choice is a row and the
continuation tokens' log-probabilities are summed. See ``models.chat.tokenize_choices`` for the
tokenization boundary.

On CPU, choices and greedy generation run without padding: one prompt at a time after the
prefix the batch shares, the rows spread over the cores (``models.prefix_prefill``,
``models.row_parallel``). Greedy generation then decodes with ``models.greedy_decode``
(in-place cache, finished rows dropped, prompt lookup): ``generate``'s tokens for less work.
Sampling, and other devices, use ``generate`` on the left-padded batch as described above.

The work is blocking and uses every core, so ``complete`` runs it in a worker thread
(``asyncio.to_thread``) with ``max_concurrency = 1``. A batch that fails (e.g. CUDA out of
memory) is retried one request at a time; a request that still fails gets ``error`` set.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvalues.core.backend import ModelSpec
from cvalues.core.errors import BackendError
from cvalues.core.requests import GenerationSettings, ModelRequest, ModelResponse
from cvalues.models.chat import (
    ChoiceTokens,
    chat_messages,
    drop_cut_character,
    plain_chat_prompt,
    tokenize_choices,
)
from cvalues.models.fast_attention import cvalues_attention
from cvalues.models.greedy_decode import greedy_generate
from cvalues.models.hf_loading import LoadedModel, load_local_model
from cvalues.models.prefix_prefill import SharedPrefix, forward_row
from cvalues.models.row_parallel import cpu_workers, map_pieces


@dataclass
class _ScoringRow:
    """One sequence to run forward: ``ids[n_context:]`` are scored, and at the last position the
    log-probability of each token in ``final_tokens`` is read."""

    ids: list[int]
    n_context: int
    final_tokens: list[int]


class TransformersBackend:
    def __init__(
        self,
        spec: ModelSpec,
        *,
        batch_size: int = 8,
        device: str = "auto",
        dtype: str = "auto",
        cache_root: Path | None = None,
    ) -> None:
        if spec.provider not in ("hf", "gguf"):
            raise BackendError(f"the transformers backend loads hf: and gguf: models, not {spec.key}")
        self.spec = spec
        self.batch_size = max(1, batch_size)
        self.max_concurrency = 1
        self.loaded: LoadedModel = load_local_model(spec, device=device, dtype=dtype, cache_root=cache_root)
        self._model = self.loaded.model
        self._tokenizer = self.loaded.tokenizer
        self._device = self.loaded.device
        self._has_template = bool(getattr(self._tokenizer, "chat_template", None))
        self._eos_ids = _eos_token_ids(self._model, self._tokenizer)
        self._keeps_logits = "logits_to_keep" in inspect.signature(self._model.forward).parameters
        # The executor never overlaps calls (max_concurrency 1); the lock keeps direct callers safe too.
        self._lock = threading.Lock()

    async def complete(
        self, requests: Sequence[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        return await asyncio.to_thread(self._complete_blocking, list(requests), settings)

    async def aclose(self) -> None:
        return None

    # -- batching and failure handling -------------------------------------------------------

    def _complete_blocking(
        self, requests: list[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        with self._lock:
            try:
                return self._run_timed(requests, settings)
            except Exception as exc:
                if len(requests) == 1:
                    return [ModelResponse(error=_describe(exc))]
            self._release_memory()
            responses = []
            for request in requests:
                try:
                    responses.extend(self._run_timed([request], settings))
                except Exception as exc:
                    responses.append(ModelResponse(error=_describe(exc)))
                    self._release_memory()
            return responses

    def _run_timed(self, requests: list[ModelRequest], settings: GenerationSettings) -> list[ModelResponse]:
        import torch

        started = time.perf_counter()
        responses: list[ModelResponse | None] = [None] * len(requests)
        generate_at = [i for i, r in enumerate(requests) if r.kind == "generate"]
        choices_at = [i for i, r in enumerate(requests) if r.kind == "choices"]
        with torch.inference_mode():
            for start in range(0, len(generate_at), self.batch_size):
                chunk = generate_at[start : start + self.batch_size]
                generated = self._generate([requests[i] for i in chunk], settings)
                for i, response in zip(chunk, generated, strict=True):
                    responses[i] = response
            scored = self._score([requests[i] for i in choices_at], settings)
            for i, response in zip(choices_at, scored, strict=True):
                responses[i] = response
        per_request = (time.perf_counter() - started) / max(1, len(requests))
        done = [r for r in responses if r is not None]
        for response in done:
            response.latency_s = per_request
        return done

    def _release_memory(self) -> None:
        import torch

        if self._device.type == "cuda":
            torch.cuda.empty_cache()

    # -- prompts ------------------------------------------------------------------------------

    def prompt_text(self, request: ModelRequest, settings: GenerationSettings) -> str:
        messages = chat_messages(request, settings)
        if self._has_template:
            return self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return plain_chat_prompt(messages)

    def encode_prompt(self, text: str) -> list[int]:
        # A chat template writes its own special tokens (BOS included); the plain prompt needs the
        # tokenizer's usual ones.
        return self._tokenizer(text, add_special_tokens=not self._has_template)["input_ids"]

    def _encode_bare(self, text: str) -> list[int]:
        return self._tokenizer(text, add_special_tokens=False)["input_ids"]

    # -- generate -----------------------------------------------------------------------------

    def _generate(self, requests: list[ModelRequest], settings: GenerationSettings) -> list[ModelResponse]:
        from transformers import GenerationConfig

        prompts = [self.encode_prompt(self.prompt_text(r, settings)) for r in requests]
        if settings.temperature <= 0 and self._device.type == "cpu":
            # Same tokens as generate below, for less work on CPU (see models.greedy_decode).
            tokens = greedy_generate(
                self._model,
                prompts,
                max_new_tokens=settings.max_tokens,
                eos_token_ids=self._eos_ids,
                pad_token_id=self._tokenizer.pad_token_id,
                workers=cpu_workers(),
            )
            if tokens is not None:
                return [self._decode(prompt, t) for prompt, t in zip(prompts, tokens, strict=True)]
        input_ids, attention_mask = self._pad(prompts, left=True)
        config = GenerationConfig(
            max_new_tokens=settings.max_tokens,
            do_sample=False,
            num_beams=1,
            eos_token_id=self._eos_ids,
            pad_token_id=self._tokenizer.pad_token_id,
        )
        output = self._model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            generation_config=config,
            logits_processor=_sampling_processors(settings, len(requests), self._device),
        )
        new_tokens = output[:, input_ids.shape[1] :].tolist()
        return [self._decode(prompt, tokens) for prompt, tokens in zip(prompts, new_tokens, strict=True)]

    def _decode(self, prompt: list[int], tokens: list[int]) -> ModelResponse:
        stop_at = next((i for i, t in enumerate(tokens) if t in self._eos_ids), None)
        kept = tokens if stop_at is None else tokens[:stop_at]
        text = self._tokenizer.decode(kept, skip_special_tokens=True)
        return ModelResponse(
            text=drop_cut_character(text, "length" if stop_at is None else "stop"),
            input_tokens=len(prompt),
            output_tokens=len(tokens) if stop_at is None else stop_at + 1,
            extra={"finish_reason": "length" if stop_at is None else "stop"},
        )

    # -- choices ------------------------------------------------------------------------------

    def choice_tokens(self, request: ModelRequest, settings: GenerationSettings) -> ChoiceTokens:
        prompt = self.prompt_text(request, settings)
        return tokenize_choices(self.encode_prompt, self._encode_bare, prompt, request.choices)

    def _score(self, requests: list[ModelRequest], settings: GenerationSettings) -> list[ModelResponse]:
        plans = [self.choice_tokens(r, settings) for r in requests]
        prefixes = [plan.shared_prefix() if len(plan.continuations) > 1 else None for plan in plans]
        rows: list[_ScoringRow] = []
        for plan, prefix in zip(plans, prefixes, strict=True):
            context = len(plan.prompt_ids)
            if prefix is not None:
                finals = [c[-1] for c in plan.continuations]
                rows.append(_ScoringRow(plan.prompt_ids + prefix, context, finals))
            else:
                rows.extend(_ScoringRow(plan.prompt_ids + c, context, []) for c in plan.continuations)
        scores: list[tuple[float, list[float]]] = []
        for start in range(0, len(rows), self.batch_size):
            scores.extend(self._score_rows(rows[start : start + self.batch_size]))
        responses = []
        position = 0
        for request, plan, prefix in zip(requests, plans, prefixes, strict=True):
            if prefix is not None:
                prefix_logprob, finals = scores[position]
                values = [prefix_logprob + f for f in finals]
                position += 1
            else:
                values = [total for total, _ in scores[position : position + len(plan.continuations)]]
                position += len(plan.continuations)
            extra = {"tokenization_boundary_merged": plan.boundary_merged} if plan.boundary_merged else {}
            responses.append(
                ModelResponse(
                    choice_logprobs=dict(zip(request.choices, values, strict=True)),
                    input_tokens=len(plan.prompt_ids),
                    output_tokens=0,
                    extra=extra,
                )
            )
        return responses

    def _score_rows(self, rows: list[_ScoringRow]) -> list[tuple[float, list[float]]]:
        """Log-probability of each row's scored tokens, and of its final candidates."""
        import torch

        if self._device.type == "cpu":
            # On CPU a row alone costs no less per token than in a batch, skips the padding and
            # lets the attention kernel skip the masked half of the causal square; rows run side
            # by side, one core each (see models.row_parallel).
            with cvalues_attention(self._model):
                # The prefix stops short of every row's scored tokens.
                limit = min(row.n_context for row in rows) - 1
                prefix = SharedPrefix.compute(self._model, [row.ids for row in rows], limit)
                return map_pieces(lambda row: self._score_alone(row, prefix), rows, cpu_workers())
        input_ids, attention_mask = self._pad([row.ids for row in rows], left=True)
        # Left padding puts every row's scored tokens in the last positions, so only those
        # positions' logits are computed (the vocabulary is large; full logits would not fit).
        keep = max(len(row.ids) - row.n_context + 1 for row in rows)
        keep = min(keep, input_ids.shape[1])
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        options = {"logits_to_keep": keep} if self._keeps_logits else {}
        logits = self._model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **options
        ).logits
        logprobs = torch.log_softmax(logits[:, -keep:, :].float(), dim=-1)
        return [_read_scores(logprobs[b], row) for b, row in enumerate(rows)]

    def _score_alone(self, row: _ScoringRow, prefix: SharedPrefix | None) -> tuple[float, list[float]]:
        import torch

        keep = len(row.ids) - row.n_context + 1
        logits = forward_row(self._model, row.ids, prefix, logits_to_keep=keep).logits
        return _read_scores(torch.log_softmax(logits[0, -keep:, :].float(), dim=-1), row)

    # -- tensors ------------------------------------------------------------------------------

    def _pad(self, sequences: list[list[int]], *, left: bool) -> tuple[Any, Any]:
        import torch

        width = max(len(s) for s in sequences)
        pad_id = self._tokenizer.pad_token_id
        ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, sequence in enumerate(sequences):
            span = slice(width - len(sequence), width) if left else slice(0, len(sequence))
            ids[row, span] = torch.tensor(sequence, dtype=torch.long)
            mask[row, span] = 1
        return ids.to(self._device), mask.to(self._device)


def _read_scores(logprobs: Any, row: _ScoringRow) -> tuple[float, list[float]]:
    """``logprobs[j]`` predicts the token after position ``len(row.ids) - len(logprobs) + j``: the
    last position predicts the token after the row."""
    keep = logprobs.shape[0]
    scored = row.ids[row.n_context :]
    first = keep - 1 - len(scored)
    total = sum(float(logprobs[first + k, token]) for k, token in enumerate(scored))
    finals = [float(logprobs[keep - 1, token]) for token in row.final_tokens]
    return total, finals


def _eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """End-of-turn tokens: the generation config's (a chat model may list several) and the tokenizer's."""
    ids: set[int] = set()
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return sorted(ids)


def _sampling_processors(settings: GenerationSettings, rows: int, device: Any) -> Any:
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

    processors = LogitsProcessorList()
    if settings.temperature <= 0:
        return processors
    processors.append(TemperatureLogitsWarper(settings.temperature))
    if settings.top_p is not None and settings.top_p < 1.0:
        processors.append(TopPLogitsWarper(settings.top_p))
    processors.append(_GumbelMaxSampling(settings.seed, rows, device))
    return processors


class _GumbelMaxSampling:
    """Adds Gumbel noise to the scores so that greedy decoding draws a sample of softmax(scores).

    transformers' own sampling draws from the global RNG for the whole batch; a generator per
    row makes each request's sample reproducible from its seed alone.
    """

    def __init__(self, seed: int | None, rows: int, device: Any) -> None:
        import torch

        self._generators = []
        for _ in range(rows):
            generator = torch.Generator(device=device)
            if seed is None:
                generator.seed()
            else:
                generator.manual_seed(seed)
            self._generators.append(generator)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        uniform = torch.stack(
            [
                torch.rand(scores.shape[-1], generator=g, device=scores.device, dtype=torch.float32)
                for g in self._generators
            ]
        )
        # clamp: rand can return exactly 0, whose log is -inf
        gumbel = -torch.log(-torch.log(uniform.clamp(min=1e-20)))
        return scores + gumbel.to(scores.dtype)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
