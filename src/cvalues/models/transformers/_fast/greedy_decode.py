"""Greedy decoding of a batch of prompts on CPU: the tokens ``model.generate(do_sample=False)``
returns, for less work.

``model.generate`` on a left-padded batch (a) runs the prompt pass over the padding, with an
explicit mask that keeps the CPU attention kernel from skipping the masked half of the causal
square, (b) grows its key/value cache with ``torch.cat``, copying it all at every step,
(c) keeps computing rows that have ended, and (d) makes one model call per new token. Here:

- each prompt runs alone, unpadded, after the prefix the batch shares (``prefix_prefill``);
- the key/value states go into per-layer buffers written in place (``kv_buffer``);
- rows that ended leave the batch once enough of them have (the copy costs about a step);
- prompt lookup (``prompt_lookup``): drafted tokens are checked in one call, and a drafted
  token is kept only where it equals the argmax the model computes there, so the reply is the
  greedy one. Columns of rejected draft tokens stay in the buffers, masked out like padding;
- the batch is dealt into groups decoded side by side, one core each (``row_parallel``).

The next token is always the argmax of the float32 logits, as in ``generate``. Several tokens
per call, the prefix split and other group sizes change the order of floating-point sums:
an exact tie between two tokens could in principle resolve differently (as it can between two
batch sizes in ``generate``). ``greedy_generate`` returns ``None`` when the model's cache is
not the plain per-layer one this relies on; the caller then uses ``model.generate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cvalues.models.transformers._fast.attention import cvalues_attention
from cvalues.models.transformers._fast.kv_buffer import buffered_layer_class
from cvalues.models.transformers._fast.prefix_prefill import (
    SharedPrefix,
    cache_argument,
    forward_row,
    plain_layers,
    returned_cache,
)
from cvalues.models.transformers._fast.prompt_lookup import MAX_DRAFT, PromptLookup
from cvalues.models.transformers._fast.row_parallel import map_pieces

# Compact the batch when at least this share of its rows has ended and a few steps remain.
_COMPACT_SHARE = 0.25
_COMPACT_MIN_STEPS_LEFT = 4


def greedy_generate(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    eos_token_ids: Sequence[int],
    pad_token_id: int,
    max_draft: int = MAX_DRAFT,
    workers: int = 1,
    share_prefix: bool = True,
) -> list[list[int]] | None:
    """Each prompt's greedy continuation: its tokens up to and including the first end token, at
    most ``max_new_tokens``. ``max_draft=0`` turns prompt lookup off; ``workers`` groups are
    decoded side by side. Call under ``torch.inference_mode()``."""
    if buffered_layer_class() is None or not prompts or max_new_tokens < 1:
        return None
    groups = [list(range(start, len(prompts), workers)) for start in range(min(workers, len(prompts)))]
    with cvalues_attention(model):
        # Every prompt keeps at least its last token to itself: its logits give the first new token.
        limit = min(len(p) for p in prompts) - 1
        prefix = SharedPrefix.compute(model, prompts, limit) if share_prefix else None

        def decode(group: list[int]) -> list[list[int]] | None:
            group_prompts = [prompts[i] for i in group]
            return _greedy_batch(
                model, group_prompts, prefix, max_new_tokens, eos_token_ids, pad_token_id, max_draft
            )

        decoded = map_pieces(decode, groups, workers)
    if any(tokens is None for tokens in decoded):
        return None
    generated: list[list[int]] = [[] for _ in prompts]
    for group, tokens in zip(groups, decoded, strict=True):
        for i, row_tokens in zip(group, tokens or [], strict=True):
            generated[i] = row_tokens
    return generated


def _prefill(
    model: Any, prompts: Sequence[Sequence[int]], prefix: SharedPrefix | None, capacity: int
) -> tuple[list[tuple[Any, Any]], list[int]] | None:
    """Every prompt's key/value states, left-padded into shared buffers, and its first greedy token."""
    width = max(len(p) for p in prompts)
    first_tokens: list[int] = []
    buffers: list[tuple[Any, Any]] = []
    for row, prompt in enumerate(prompts):
        outputs = forward_row(model, prompt, prefix, logits_to_keep=1)
        layers = plain_layers(returned_cache(outputs))
        if layers is None:
            return None
        if not buffers:
            for layer in layers:
                shape = (len(prompts), layer.keys.shape[1], capacity, layer.keys.shape[3])
                buffers.append((layer.keys.new_zeros(shape), layer.values.new_zeros(shape)))
        start = width - len(prompt)
        for layer, (keys, values) in zip(layers, buffers, strict=True):
            keys[row, :, start:width] = layer.keys[0]
            values[row, :, start:width] = layer.values[0]
        first_tokens.append(int(outputs.logits[0, -1].float().argmax()))
    return buffers, first_tokens


def _greedy_batch(
    model: Any,
    prompts: Sequence[Sequence[int]],
    prefix: SharedPrefix | None,
    max_new_tokens: int,
    eos_token_ids: Sequence[int],
    pad_token_id: int,
    max_draft: int,
) -> list[list[int]] | None:
    import torch
    from transformers.cache_utils import DynamicCache

    layer_class = buffered_layer_class()
    assert layer_class is not None
    device = model.device
    width = max(len(p) for p in prompts)
    # Rejected draft tokens leave masked columns behind: room for as many again (it grows if need be).
    prefilled = _prefill(model, prompts, prefix, width + max_new_tokens * (2 if max_draft else 1))
    if prefilled is None:
        return None
    buffers, first_tokens = prefilled
    cache = DynamicCache()
    cache.layers = [layer_class(keys, values, width) for keys, values in buffers]
    del buffers, prefilled
    stop = set(eos_token_ids)
    generated = [[token] for token in first_tokens]
    lookups = [
        PromptLookup([*prompt, token], eos_token_ids, max_draft)
        for prompt, token in zip(prompts, first_tokens, strict=True)
    ]
    attention_mask = torch.zeros((len(prompts), width), dtype=torch.long, device=device)
    for row, prompt in enumerate(prompts):
        attention_mask[row, width - len(prompt) :] = 1
    # Position of each row's pending token: the last generated one, not yet run through the model.
    positions = [len(prompt) for prompt in prompts]
    rows = list(range(len(prompts)))  # batch position -> prompt
    call_kwargs = {"use_cache": True, cache_argument(model): cache}

    def done(row: int) -> bool:
        return generated[row][-1] in stop or len(generated[row]) >= max_new_tokens

    while True:
        finished = [done(row) for row in rows]
        if all(finished):
            return generated
        shortest = min(len(generated[row]) for row, f in zip(rows, finished, strict=True) if not f)
        n_done = sum(finished)
        if (
            n_done >= max(1, _COMPACT_SHARE * len(rows))
            and max_new_tokens - shortest >= _COMPACT_MIN_STEPS_LEFT
        ):
            keep = [i for i, f in enumerate(finished) if not f]
            index = torch.tensor(keep, device=device)
            for layer in cache.layers:
                layer.keep_rows(index)  # type: ignore[union-attr]  # cvalues' own layer class (kv_buffer)
            attention_mask = attention_mask.index_select(0, index)
            rows = [rows[i] for i in keep]
            finished = [False] * len(rows)
        drafts = [
            [] if f else lookups[row].draft(max_new_tokens - len(generated[row]) - 1)
            for row, f in zip(rows, finished, strict=True)
        ]
        span = 1 + max(len(d) for d in drafts)
        input_ids = torch.full((len(rows), span), pad_token_id, dtype=torch.long)
        new_mask = torch.zeros((len(rows), span), dtype=torch.long)
        position_ids = torch.zeros((len(rows), span), dtype=torch.long)
        for i, (row, f, draft) in enumerate(zip(rows, finished, drafts, strict=True)):
            fed = [generated[row][-1], *draft]
            input_ids[i, : len(fed)] = torch.tensor(fed)
            new_mask[i, : len(fed)] = 0 if f else 1
            position_ids[i] = torch.arange(positions[row], positions[row] + span)
        attention_mask = torch.cat([attention_mask, new_mask.to(device)], dim=-1)
        outputs = model(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask,
            position_ids=position_ids.to(device),
            **call_kwargs,
        )
        predicted = outputs.logits.float().argmax(dim=-1).tolist()
        del outputs
        first_column = attention_mask.shape[1] - span
        for i, (row, f, draft) in enumerate(zip(rows, finished, drafts, strict=True)):
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
            lookups[row].record(len(draft), accepted)
            positions[row] += accepted + 1
            # The pending token's and the accepted drafts' columns hold true states; mask the rest.
            attention_mask[i, first_column + accepted + 1 :] = 0
