"""Token-budget batching: which requests share a forward pass.

A fixed number of rows per batch either wastes a GPU on short prompts or runs out of memory on
long ones, and pads short rows up to the longest. Here the rows are sorted by length (longest
first, so a batch that does not fit fails at once, not at the end) and a batch is filled while
rows x its longest row stays within ``max_tokens`` and it has at most ``max_rows`` rows. A row
longer than the budget on its own forms its own batch.
"""

from __future__ import annotations

from collections.abc import Sequence


def token_batches(lengths: Sequence[int], *, max_rows: int, max_tokens: int | None = None) -> list[list[int]]:
    """Indices into ``lengths``, grouped into batches; every index appears exactly once."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        # Sorted longest first: the batch's padded width is the length of its first row.
        width = lengths[current[0]] if current else lengths[index]
        fits_tokens = max_tokens is None or (len(current) + 1) * width <= max_tokens
        if current and (len(current) >= max(1, max_rows) or not fits_tokens):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches
