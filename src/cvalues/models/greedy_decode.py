"""Greedy decoding of a batch of prompts on CPU: the tokens ``model.generate(do_sample=False)``
returns, for less work.

``model.generate`` on a left-padded batch (a) runs the prompt forward pass over the padding,
with an explicit attention mask that keeps the CPU attention kernel from skipping the masked
half of the causal square, (b) grows its key/value cache with ``torch.cat``, copying the whole
cache at every step, (c) keeps computing rows that have already ended, and (d) makes one model
call per new token.

Here instead:

- each prompt's forward pass runs alone, unpadded, with the plain causal kernel: exactly what
  ``generate`` computes for a batch of one;
- the key/value states live in one buffer per layer sized for the prompt plus the reply (left
  padded, as ``generate`` lays them out), so a step writes its columns instead of copying;
- rows that ended leave the batch once enough of them have (the copy costs about a step);
- prompt lookup (as ``generate(prompt_lookup_num_tokens=...)`` does for a batch of one): the
  tokens that followed the latest earlier occurrence of the reply's last few tokens are
  proposed as a draft, and one model call checks the whole draft. A drafted token is kept only
  where it equals the argmax the model computes at that position, so the reply is the greedy
  one; the check is exact, not approximate. It pays off because a small model's answer to a
  multi-choice prompt often quotes one of the replies. Columns of rejected draft tokens stay
  in the buffer, masked out, like padding.

The next token is always the argmax of the float32 logits, as in ``generate``. The verification
call sees several new tokens at once, which changes the order of floating-point sums inside the
model: an exact tie between two tokens could in principle resolve differently (the same holds
for ``generate`` with another batch size). ``greedy_generate`` returns ``None`` when the model's
cache is not the plain per-layer one this relies on (sliding-window or recurrent layers); the
caller then uses ``model.generate``.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

# Compact the batch when at least this share of its rows has ended and a few steps remain.
_COMPACT_SHARE = 0.25
_COMPACT_MIN_STEPS_LEFT = 4
# Prompt lookup: match the last 1..MAX_NGRAM tokens (longest first), draft up to MAX_DRAFT tokens.
MAX_NGRAM = 3
MAX_DRAFT = 10


class _BufferedLayer:
    """Key/value states of one attention layer in a preallocated ``[batch, heads, capacity, dim]``
    buffer. ``keys`` / ``values`` are views of the filled part, which is what the attention reads."""

    def __init__(self, keys: Any, values: Any, length: int) -> None:
        self._keys, self._values, self._length = keys, values, length
        self._publish()

    def _publish(self) -> None:
        self.keys = self._keys[:, :, : self._length]
        self.values = self._values[:, :, : self._length]

    def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        end = self._length + key_states.shape[-2]
        if end > self._keys.shape[2]:
            self._grow(end)
        self._keys[:, :, self._length : end] = key_states
        self._values[:, :, self._length : end] = value_states
        self._length = end
        self._publish()
        return self.keys, self.values

    def _grow(self, needed: int) -> None:
        capacity = max(needed, self._keys.shape[2] + self._keys.shape[2] // 4)
        shape = (*self._keys.shape[:2], capacity, self._keys.shape[3])
        keys, values = self._keys.new_zeros(shape), self._values.new_zeros(shape)
        keys[:, :, : self._length] = self.keys
        values[:, :, : self._length] = self.values
        self._keys, self._values = keys, values

    def keep_rows(self, rows: Any) -> None:
        self._keys = self._keys.index_select(0, rows)
        self._values = self._values.index_select(0, rows)
        self._publish()


def _buffered_layer_class() -> type | None:
    """``_BufferedLayer`` as a transformers ``DynamicLayer`` (mask sizes, sequence length and the
    rest are inherited), or None when this transformers has no per-layer caches."""
    try:
        from transformers.cache_utils import DynamicLayer
    except ImportError:
        return None

    class BufferedDynamicLayer(_BufferedLayer, DynamicLayer):
        def __init__(self, keys: Any, values: Any, length: int) -> None:
            DynamicLayer.__init__(self)
            self.is_initialized = True
            self.device = keys.device
            _BufferedLayer.__init__(self, keys, values, length)

        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:
            return None

    return BufferedDynamicLayer


class PromptLookup:
    """Drafts for one row: the tokens after the latest earlier occurrence of its last n tokens."""

    def __init__(self, tokens: Sequence[int], stop_tokens: Sequence[int]) -> None:
        self.tokens = list(tokens)
        self._stop = set(stop_tokens)
        self._latest: dict[tuple[int, ...], int] = {}
        self._indexed = 0  # n-grams ending before this index are in ``_latest``

    def append(self, tokens: Sequence[int]) -> None:
        self.tokens.extend(tokens)

    def draft(self, limit: int) -> list[int]:
        tokens = self.tokens
        # Index the n-grams that now have a continuation (all but those ending at the last token).
        for end in range(self._indexed, len(tokens) - 1):
            for n in range(1, min(MAX_NGRAM, end + 1) + 1):
                self._latest[tuple(tokens[end - n + 1 : end + 1])] = end + 1
        self._indexed = max(self._indexed, len(tokens) - 1)
        if limit < 1:
            return []
        for n in range(min(MAX_NGRAM, len(tokens)), 0, -1):
            follows = self._latest.get(tuple(tokens[-n:]))
            if follows is not None:
                proposal = tokens[follows : follows + limit]
                for i, token in enumerate(proposal):
                    if token in self._stop:  # never draft past an end token
                        return proposal[:i]
                return proposal
        return []


def _cache_argument(model: Any) -> str:
    # transformers 5 renamed ``past_key_values`` to ``cache``.
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _returned_cache(outputs: Any) -> Any:
    cache = getattr(outputs, "cache", None)
    return cache if cache is not None else getattr(outputs, "past_key_values", None)


def _prefill_rows(model: Any, prompts: Sequence[Sequence[int]], capacity: int) -> tuple[Any, list[int]] | None:
    """Every prompt's key/value states, left-padded into shared buffers, and its first greedy token."""
    import torch
    from transformers.cache_utils import DynamicLayer

    width = max(len(p) for p in prompts)
    first_tokens: list[int] = []
    key_buffers: list[Any] = []
    value_buffers: list[Any] = []
    for row, prompt in enumerate(prompts):
        outputs = model(
            input_ids=torch.tensor([list(prompt)], device=model.device), use_cache=True, logits_to_keep=1
        )
        layers = getattr(_returned_cache(outputs), "layers", None)
        if not layers or any(type(layer) is not DynamicLayer for layer in layers):
            return None  # sliding-window, recurrent or legacy caches: leave those to generate
        if not key_buffers:
            for layer in layers:
                shape = (len(prompts), layer.keys.shape[1], capacity, layer.keys.shape[3])
                key_buffers.append(layer.keys.new_zeros(shape))
                value_buffers.append(layer.values.new_zeros(shape))
        start = width - len(prompt)
        for layer, keys, values in zip(layers, key_buffers, value_buffers, strict=True):
            keys[row, :, start:width] = layer.keys[0]
            values[row, :, start:width] = layer.values[0]
        first_tokens.append(int(outputs.logits[0, -1].float().argmax()))
    return list(zip(key_buffers, value_buffers, strict=True)), first_tokens


def greedy_generate(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    eos_token_ids: Sequence[int],
    pad_token_id: int,
    max_draft: int = MAX_DRAFT,
) -> list[list[int]] | None:
    """The greedy continuation of each prompt: its tokens up to and including the first end
    token, at most ``max_new_tokens``. ``max_draft=0`` turns prompt lookup off. Call under
    ``torch.inference_mode()``."""
    import torch

    layer_class = _buffered_layer_class()
    if layer_class is None or not prompts or max_new_tokens < 1:
        return None
    device = model.device
    width = max(len(p) for p in prompts)
    prefilled = _prefill_rows(model, prompts, width + max_new_tokens)
    if prefilled is None:
        return None
    buffers, first_tokens = prefilled
    from transformers.cache_utils import DynamicCache

    cache = DynamicCache()
    cache.layers = [layer_class(keys, values, width) for keys, values in buffers]
    del buffers, prefilled
    stop = set(eos_token_ids)
    generated = [[token] for token in first_tokens]
    lookups = [PromptLookup([*prompt, token], eos_token_ids) for prompt, token in zip(prompts, first_tokens)]
    attention_mask = torch.zeros((len(prompts), width), dtype=torch.long, device=device)
    for row, prompt in enumerate(prompts):
        attention_mask[row, width - len(prompt) :] = 1
    # Position of each row's pending token: the last generated one, not yet run through the model.
    positions = [len(prompt) for prompt in prompts]
    rows = list(range(len(prompts)))  # batch position -> prompt
    call_kwargs = {"use_cache": True}
    cache_argument = _cache_argument(model)

    def done(row: int) -> bool:
        return generated[row][-1] in stop or len(generated[row]) >= max_new_tokens

    while True:
        finished = [done(row) for row in rows]
        if all(finished):
            break
        steps_left = max_new_tokens - min(len(generated[row]) for row, f in zip(rows, finished) if not f)
        n_done = sum(finished)
        if n_done and n_done >= _COMPACT_SHARE * len(rows) and steps_left >= _COMPACT_MIN_STEPS_LEFT:
            keep = [i for i, f in enumerate(finished) if not f]
            index = torch.tensor(keep, device=device)
            for layer in cache.layers:
                layer.keep_rows(index)
            attention_mask = attention_mask.index_select(0, index)
            rows = [rows[i] for i in keep]
            finished = [False] * len(rows)
        drafts = [
            [] if f else lookups[row].draft(min(max_draft, max_new_tokens - len(generated[row]) - 1))
            for row, f in zip(rows, finished)
        ]
        span = 1 + max(len(d) for d in drafts)
        input_ids = torch.full((len(rows), span), pad_token_id, dtype=torch.long)
        new_mask = torch.zeros((len(rows), span), dtype=torch.long)
        position_ids = torch.zeros((len(rows), span), dtype=torch.long)
        for i, (row, f, draft) in enumerate(zip(rows, finished, drafts)):
            fed = [generated[row][-1], *draft]
            input_ids[i, : len(fed)] = torch.tensor(fed)
            new_mask[i, : len(fed)] = 0 if f else 1
            position_ids[i] = torch.arange(positions[row], positions[row] + span)
        attention_mask = torch.cat([attention_mask, new_mask.to(device)], dim=-1)
        call_kwargs[cache_argument] = cache
        outputs = model(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask,
            position_ids=position_ids.to(device),
            **call_kwargs,
        )
        predicted = outputs.logits.float().argmax(dim=-1).tolist()
        del outputs
        first_column = attention_mask.shape[1] - span
        for i, (row, f, draft) in enumerate(zip(rows, finished, drafts)):
            if f:
                continue
            accepted = 0
            while accepted < len(draft) and draft[accepted] == predicted[i][accepted]:
                accepted += 1
            new_tokens = predicted[i][: accepted + 1]
            for k, token in enumerate(new_tokens):
                if token in stop:
                    new_tokens = new_tokens[: k + 1]
                    break
            new_tokens = new_tokens[: max_new_tokens - len(generated[row])]
            generated[row].extend(new_tokens)
            lookups[row].append(new_tokens)
            positions[row] += accepted + 1
            # The columns of the pending token and the accepted draft hold true states; the rest is masked.
            attention_mask[i, first_column + accepted + 1 :] = 0
    return generated
