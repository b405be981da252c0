"""Prompt forward passes on CPU, one prompt at a time, computing a prefix the batch shares once.

A batch of chat prompts built from one template starts with the same tokens (SmolLM2's system
prompt and the CValues instructions: 123 tokens of about 930). ``SharedPrefix`` runs them once;
each prompt then runs only its own tokens on top of a copy of that cache, with the split
attention of ``_fast.attention``. The model sees the same tokens at the same positions as
in one pass over the whole prompt; only float rounding differs.

Call these inside ``attention.cvalues_attention(model)`` and ``torch.inference_mode()``.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cvalues.models.transformers._fast.attention import prefix_cached, prefix_split_available

# Below this many shared tokens the saving is not worth a second model call.
MIN_SHARED_PREFIX = 16


def cache_argument(model: Any) -> str:
    # transformers 5 renamed ``past_key_values`` to ``cache``.
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _keeps_logits(model: Any) -> bool:
    return "logits_to_keep" in inspect.signature(model.forward).parameters


def returned_cache(outputs: Any) -> Any:
    cache = getattr(outputs, "cache", None)
    return cache if cache is not None else getattr(outputs, "past_key_values", None)


def plain_layers(cache: Any) -> list[Any] | None:
    """The cache's per-layer key/value holders, or None unless every one is a plain growing layer
    (sliding-window, recurrent or legacy caches are left alone)."""
    try:
        from transformers.cache_utils import DynamicLayer
    except ImportError:
        return None
    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer) is not DynamicLayer for layer in layers):
        return None
    return list(layers)


def shared_length(sequences: Sequence[Sequence[int]]) -> int:
    first = sequences[0]
    length = min(len(s) for s in sequences)
    for other in sequences[1:]:
        length = next((i for i in range(length) if other[i] != first[i]), length)
    return length


@dataclass
class SharedPrefix:
    length: int
    states: list[tuple[Any, Any]]  # per layer: keys, values of shape [1, kv heads, length, dim]

    @classmethod
    def compute(cls, model: Any, sequences: Sequence[Sequence[int]], limit: int) -> SharedPrefix | None:
        """The prefix every sequence starts with, cut to ``limit`` tokens, run once; None when
        it is too short to pay, or the model's cache or attention cannot take it."""
        length = min(shared_length(sequences), limit)
        if len(sequences) < 2 or length < MIN_SHARED_PREFIX or not prefix_split_available():
            return None
        outputs = forward_row(model, sequences[0][:length], None, logits_to_keep=1)
        layers = plain_layers(returned_cache(outputs))
        if layers is None:
            return None
        return cls(length, [(layer.keys, layer.values) for layer in layers])


def forward_row(model: Any, ids: Sequence[int], prefix: SharedPrefix | None, logits_to_keep: int) -> Any:
    """``model`` on one unpadded sequence (with its cache), reusing ``prefix`` when given. The
    logits cover at least the last ``logits_to_keep`` positions (all of them on a model that
    cannot skip the others)."""
    import torch
    from transformers.cache_utils import DynamicCache

    device = model.device
    options = {"logits_to_keep": logits_to_keep} if _keeps_logits(model) else {}
    if prefix is None:
        return model(input_ids=torch.tensor([list(ids)], device=device), use_cache=True, **options)
    cache = DynamicCache()
    for index, (keys, values) in enumerate(prefix.states):
        cache.update(keys, values, index)  # a copy: the prefix stays for the other rows
    own = torch.tensor([list(ids[prefix.length :])], device=device)
    positions = torch.arange(prefix.length, len(ids), device=device).unsqueeze(0)
    with prefix_cached(prefix.length):
        return model(
            input_ids=own,
            position_ids=positions,
            use_cache=True,
            **options,
            **{cache_argument(model): cache},
        )
