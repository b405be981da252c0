"""A key/value cache layer for batched decoding that writes in place instead of concatenating.

transformers' ``DynamicLayer`` grows with ``torch.cat`` at every step, copying the whole cache;
this one preallocates ``[batch, heads, capacity, dim]`` (left-padded rows, as ``generate`` lays
them out) and writes each step's columns into it. Unused columns are zeros (masked out, and
never NaN). It can also drop rows that finished.
"""

from __future__ import annotations

from typing import Any


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


def buffered_layer_class() -> type | None:
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
