"""A local model run with transformers: ``hf:<dir-or-hub-id>`` and ``gguf:<file.gguf>``.

Prompts use the model's conversation format when the spec names one (``--chat-format``; see
``models.chat_formats``: the prompt is tokenized as the authors' code does, with the tokenizer's
own special tokens, and the reply is cut at the format's stop strings); otherwise the
tokenizer's chat template (``add_generation_prompt=True``); a tokenizer without one (a base
model) gets the plain ``User: ...`` / ``Assistant:`` prompt of ``models.chat``.

``generate``: a batch is left-padded and decoded together; only the new tokens are decoded,
special tokens skipped, stopping at EOS. ``temperature == 0`` is greedy. Otherwise sampling is
done as Gumbel-max over the temperature/top-p adjusted scores with one ``torch.Generator`` per
row seeded from ``settings.seed``, so a request's sample depends on the request and the seed,
not on which other requests share its batch.

``choices``: log P(choice | chat prompt), exact, from the model's own log-softmax. Two paths,
recorded per item in ``extra["choice_path"]``:

- ``one-pass``: the choices are single decisions after a shared prefix (their tokens differ
  only in the last one: "回复" + "1"/"2", or option letters "A"/"B"/"C"/"D"). One forward pass
  over prompt + shared prefix, logits only at the shared prefix's positions and the last one
  (``logits_to_keep``), gives every choice: log P(prefix) + log P(last token | prefix).
- ``exact``: the choices' tokens differ earlier ("Yes" / "Maybe not"): each prompt + choice is
  a row and the continuation tokens' log-probabilities are summed.

Both give the same numbers where both apply (tests/test_transformers_engine.py). See
``models.chat.tokenize_choices`` for the tokenization boundary.

Two engines (``--engine``), recorded per response in ``extra["engine"]``: ``fast`` (the default,
CPU only, where ``_fast.coverage`` says it is tested): choices and greedy generation run without
padding, one prompt at a time after the prefix the batch shares, the rows spread over the cores
(``_fast.prefix_prefill``, ``_fast.row_parallel``), and greedy generation decodes with
``_fast.greedy_decode`` (in-place cache, finished rows dropped, prompt lookup): ``generate``'s
tokens for less work. ``plain`` (GPUs, ``--engine plain``, anything the fast path does not
cover, and sampling): ``generate`` and one forward pass on the left-padded batch, as above.

Batches: requests are sorted by prompt length and cut into batches of at most ``batch_size``
rows and, with ``batch_tokens``, at most that many padded tokens (rows x longest prompt).

The work is blocking and uses every core, so ``complete`` runs it in a worker thread
(``asyncio.to_thread``) with ``max_concurrency = 1``. A batch that fails (e.g. CUDA out of
memory) is retried one request at a time; a request that still fails gets ``error`` set.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
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
from cvalues.models.chat_formats import ChatFormat, chat_format_for, cut_at_stop
from cvalues.models.transformers._fast import (
    EngineChoice,
    SharedPrefix,
    choose_engine,
    cpu_workers,
    cvalues_attention,
    forward_row,
    greedy_generate,
    map_pieces,
)
from cvalues.models.transformers.batching import token_batches
from cvalues.models.transformers.loading import LoadedModel, load_local_model
from cvalues.models.transformers.sampling import sampling_processors

log = logging.getLogger(__name__)

ONE_PASS, EXACT = "one-pass", "exact"


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
        batch_tokens: int | None = None,
        device: str = "auto",
        dtype: str = "auto",
        engine: str = "fast",
        cache_root: Path | None = None,
    ) -> None:
        if spec.provider not in ("hf", "gguf"):
            raise BackendError(f"the transformers backend loads hf: and gguf: models, not {spec.key}")
        self._chat_format = chat_format_for(spec)
        self.spec = spec
        self.batch_size = max(1, batch_size)
        self.batch_tokens = batch_tokens
        self.max_concurrency = 1
        self.loaded: LoadedModel = load_local_model(spec, device=device, dtype=dtype, cache_root=cache_root)
        self._model = self.loaded.model
        self._tokenizer = self.loaded.tokenizer
        self._device = self.loaded.device
        self._has_template = bool(getattr(self._tokenizer, "chat_template", None))
        # A Jinja template writes its own special tokens; a built-in format's prompt is tokenized
        # as its authors' code does (tokenizer(prompt): BOS, or ChatGLM's [gMASK]<sop>).
        if self._chat_format is not None:
            self._adds_special_tokens = isinstance(self._chat_format, ChatFormat)
        else:
            self._adds_special_tokens = not self._has_template
        self._stop = tuple(self._chat_format.stop) if self._chat_format is not None else ()
        self._eos_ids = _eos_token_ids(self._model, self._tokenizer)
        self._keeps_logits = "logits_to_keep" in inspect.signature(self._model.forward).parameters
        try:
            self.engine: EngineChoice = choose_engine(engine, self._model, self._device)
        except ValueError as exc:
            raise BackendError(str(exc)) from None
        log.info(
            "transformers engine for %s: %s (%s; %s)",
            spec.key,
            self.engine.engine,
            self.engine.reason,
            self.loaded.dtype,
        )
        # Tests switch this off to compare the one-pass choice scores with the exact sums.
        self.one_pass_choices = True
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
            lengths = [len(self.encode_prompt(self.prompt_text(requests[i], settings))) for i in generate_at]
            for batch in self._batches(lengths):
                chunk = [generate_at[b] for b in batch]
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
            response.extra.setdefault("dtype", self.loaded.dtype)
        return done

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        return token_batches(lengths, max_rows=self.batch_size, max_tokens=self.batch_tokens)

    def _release_memory(self) -> None:
        import torch

        if self._device.type == "cuda":
            torch.cuda.empty_cache()

    # -- prompts ------------------------------------------------------------------------------

    def prompt_text(self, request: ModelRequest, settings: GenerationSettings) -> str:
        messages = chat_messages(request, settings)
        if self._chat_format is not None:
            return self._chat_format.render(messages).prompt
        if self._has_template:
            return self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return plain_chat_prompt(messages)

    def encode_prompt(self, text: str) -> list[int]:
        # A chat template writes its own special tokens (BOS included); the plain prompt needs the
        # tokenizer's usual ones.
        return self._tokenizer(text, add_special_tokens=self._adds_special_tokens)["input_ids"]

    def _encode_bare(self, text: str) -> list[int]:
        return self._tokenizer(text, add_special_tokens=False)["input_ids"]

    # -- generate -----------------------------------------------------------------------------

    def _generate(self, requests: list[ModelRequest], settings: GenerationSettings) -> list[ModelResponse]:
        from transformers import GenerationConfig

        prompts = [self.encode_prompt(self.prompt_text(r, settings)) for r in requests]
        engine = self.engine
        if engine.engine == "fast" and settings.temperature > 0:
            engine = EngineChoice("plain", "sampling runs transformers generate")
        if engine.engine == "fast":
            # Same tokens as generate below, for less work on CPU (see _fast.greedy_decode).
            tokens = greedy_generate(
                self._model,
                prompts,
                max_new_tokens=settings.max_tokens,
                eos_token_ids=self._eos_ids,
                pad_token_id=self._tokenizer.pad_token_id,
                workers=cpu_workers(),
            )
            if tokens is not None:
                return [self._decode(prompt, t, engine) for prompt, t in zip(prompts, tokens, strict=True)]
            engine = EngineChoice("plain", "the model's cache is not the plain dynamic cache")
            log.info("fast greedy decoding fell back to generate: %s", engine.reason)
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
            logits_processor=sampling_processors(settings, len(prompts), self._device),
        )
        new_tokens = output[:, input_ids.shape[1] :].tolist()
        return [
            self._decode(prompt, tokens, engine) for prompt, tokens in zip(prompts, new_tokens, strict=True)
        ]

    def _decode(self, prompt: list[int], tokens: list[int], engine: EngineChoice) -> ModelResponse:
        stop_at = next((i for i, t in enumerate(tokens) if t in self._eos_ids), None)
        kept = tokens if stop_at is None else tokens[:stop_at]
        text = self._tokenizer.decode(kept, skip_special_tokens=True)
        cut = cut_at_stop(text, self._stop)
        return ModelResponse(
            text=drop_cut_character(text, "length" if stop_at is None else "stop") if cut is None else cut,
            input_tokens=len(prompt),
            output_tokens=len(tokens) if stop_at is None else stop_at + 1,
            extra={
                "finish_reason": "length" if stop_at is None and cut is None else "stop",
                **engine.extra(),
            },
        )

    # -- choices ------------------------------------------------------------------------------

    def choice_tokens(self, request: ModelRequest, settings: GenerationSettings) -> ChoiceTokens:
        prompt = self.prompt_text(request, settings)
        return tokenize_choices(self.encode_prompt, self._encode_bare, prompt, request.choices)

    def _score(self, requests: list[ModelRequest], settings: GenerationSettings) -> list[ModelResponse]:
        plans = [self.choice_tokens(r, settings) for r in requests]
        prefixes = [self._one_pass_prefix(plan) for plan in plans]
        rows: list[_ScoringRow] = []
        for plan, prefix in zip(plans, prefixes, strict=True):
            context = len(plan.prompt_ids)
            if prefix is not None:
                finals = [c[-1] for c in plan.continuations]
                rows.append(_ScoringRow(plan.prompt_ids + prefix, context, finals))
            else:
                rows.extend(_ScoringRow(plan.prompt_ids + c, context, []) for c in plan.continuations)
        scores: list[tuple[float, list[float]]] = [(0.0, [])] * len(rows)
        for batch in self._batches([len(row.ids) for row in rows]):
            for b, score in zip(batch, self._score_rows([rows[b] for b in batch]), strict=True):
                scores[b] = score
        responses = []
        position = 0
        for request, plan, prefix in zip(requests, plans, prefixes, strict=True):
            if prefix is not None:
                prefix_logprob, final_logprobs = scores[position]
                values: list[float] = [prefix_logprob + f for f in final_logprobs]
                position += 1
            else:
                values = [total for total, _ in scores[position : position + len(plan.continuations)]]
                position += len(plan.continuations)
            path = EXACT if prefix is None else ONE_PASS
            # Each choice's length in tokens, so a caller can normalise a whole reply's log-probability.
            extra: dict[str, Any] = {
                "choice_path": path,
                "choice_tokens": [len(c) for c in plan.continuations],
                **self.engine.extra(),
            }
            if plan.boundary_merged:
                extra["tokenization_boundary_merged"] = plan.boundary_merged
            responses.append(
                ModelResponse(
                    choice_logprobs=dict(zip(request.choices, values, strict=True)),
                    input_tokens=len(plan.prompt_ids),
                    output_tokens=0,
                    extra=extra,
                )
            )
        return responses

    def _one_pass_prefix(self, plan: ChoiceTokens) -> list[int] | None:
        """The tokens the choices share before their one differing last token, when one forward
        pass scores them all (``one-pass``); None for the exact per-choice sums."""
        if not self.one_pass_choices or len(plan.continuations) < 2:
            return None
        return plan.shared_prefix()

    def _score_rows(self, rows: list[_ScoringRow]) -> list[tuple[float, list[float]]]:
        """Log-probability of each row's scored tokens, and of its final candidates."""
        import torch

        if self.engine.engine == "fast":
            # On CPU a row alone costs no less per token than in a batch, skips the padding and
            # lets the attention kernel skip the masked half of the causal square; rows run side
            # by side, one core each (see _fast.row_parallel).
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


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
