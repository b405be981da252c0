"""An sdpa attention for the CPU fast paths, same results as transformers' ``sdpa`` with less work.

Two cases differ from transformers' sdpa function; everything else is handed to it unchanged.

- Several query tokens with a mask and grouped key/value heads (checking a draft while
  decoding): transformers copies each key/value head once per query head (``repeat_kv``)
  before the call; here SDPA shares them (``enable_gqa``). On CPU the result is the same to
  the bit, without copying the whole cache three times per layer.
- A prompt whose first ``length`` tokens are already in the cache (a prefix shared by the
  batch, computed once; see ``_fast.prefix_prefill``): the mask transformers builds for that
  call (causal, shifted by the prefix) makes the CPU kernel compute every query/key block.
  Here the prefix keys (all visible) and the prompt's own keys (causal, which skips the masked
  half) are attended separately and the two softmaxes merged with their log-sum-exps: the same
  attention, as cheap as the plain causal pass, up to float rounding.

``cvalues_attention(model)`` switches the model to this function while the block lasts;
``prefix_cached(length)`` marks, for the calling thread, that a call's first ``length`` keys
are such a prefix.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

NAME = "cvalues_sdpa"
_state = threading.local()


def prefix_split_available() -> bool:
    """The CPU flash kernel that also returns the log-sum-exp is there (torch's private op)."""
    import torch

    return hasattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu")


@contextlib.contextmanager
def prefix_cached(length: int) -> Iterator[None]:
    previous = getattr(_state, "prefix", 0)
    _state.prefix = length
    try:
        yield
    finally:
        _state.prefix = previous


def _repeat_heads(states: Any, groups: int) -> Any:
    if groups == 1:
        return states.contiguous()
    batch, heads, length, dim = states.shape
    return (
        states[:, :, None]
        .expand(batch, heads, groups, length, dim)
        .reshape(batch, heads * groups, length, dim)
    )


def _attend_after_prefix(query: Any, key: Any, value: Any, prefix: int, groups: int, scale: Any) -> Any:
    import torch

    flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    keys, values = _repeat_heads(key, groups), _repeat_heads(value, groups)
    query = query.contiguous()
    on_prefix, lse_prefix = flash(query, keys[:, :, :prefix], values[:, :, :prefix], 0.0, False, scale=scale)
    on_self, lse_self = flash(query, keys[:, :, prefix:], values[:, :, prefix:], 0.0, True, scale=scale)
    top = torch.maximum(lse_prefix, lse_self)
    w_prefix, w_self = torch.exp(lse_prefix - top), torch.exp(lse_self - top)
    merged = (on_prefix * w_prefix.unsqueeze(-1) + on_self * w_self.unsqueeze(-1)) / (
        w_prefix + w_self
    ).unsqueeze(-1)
    return merged.to(query.dtype)


def _attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kwargs: Any
) -> tuple[Any, None]:
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    groups = getattr(module, "num_key_value_groups", 1)
    plain = not any(kwargs.get(name) is not None for name in ("softcap", "position_bias", "sinks"))
    q_length, kv_length = query.shape[2], key.shape[2]
    prefix = getattr(_state, "prefix", 0)
    if plain and prefix and query.device.type == "cpu" and kv_length - q_length == prefix and q_length > 1:
        output = _attend_after_prefix(query, key, value, prefix, groups, kwargs.get("scaling"))
        return output.transpose(1, 2).contiguous(), None
    if plain and groups > 1 and attention_mask is not None and q_length > 1:
        output = torch.nn.functional.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=attention_mask,
            dropout_p=kwargs.get("dropout", 0.0),
            scale=kwargs.get("scaling"),
            enable_gqa=True,
        )
        return output.transpose(1, 2).contiguous(), None
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


@contextlib.contextmanager
def cvalues_attention(model: Any) -> Iterator[bool]:
    """Run ``model`` with this attention while the block lasts; yields whether it is in use
    (only models that use transformers' sdpa are switched)."""
    config = model.config
    previous = getattr(config, "_attn_implementation", None)
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        previous = None
    if previous != "sdpa":
        yield False
        return
    AttentionInterface.register(NAME, _attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)  # the masks sdpa gets
    config._attn_implementation = NAME
    try:
        yield True
    finally:
        config._attn_implementation = previous
