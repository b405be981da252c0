"""Independent pieces of a CPU batch (rows, or groups of rows) computed side by side, one core each.

torch on CPU splits every operator over its intra-op threads and joins them at a barrier after
each one. A forward pass is hundreds of operators, and a decoding step's operators are small, so
those barriers cost much, and far more when other processes share the cores: a thread that
waits for a descheduled partner spins and burns its slice. Pieces that do not depend on each
other need no barriers at all: here each runs whole in its own Python thread with one intra-op
thread (torch releases the GIL inside operators), as many at once as torch had threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def cpu_workers() -> int:
    """How many pieces to run at once: torch's intra-op thread count (the cores, by default)."""
    import torch

    return max(1, torch.get_num_threads())


@contextmanager
def one_thread_per_op() -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def map_pieces(function: Callable[[T], R], pieces: Sequence[T], workers: int) -> list[R]:
    """``[function(p) for p in pieces]`` under ``torch.inference_mode``, ``workers`` at a time."""
    import torch

    def run(piece: T) -> R:
        # Both are per thread: a pool thread starts with torch's defaults.
        torch.set_num_threads(1)
        with torch.inference_mode():
            return function(piece)

    if workers <= 1 or len(pieces) <= 1:
        with torch.inference_mode():
            return [function(piece) for piece in pieces]
    with one_thread_per_op(), ThreadPoolExecutor(min(workers, len(pieces))) as pool:
        return list(pool.map(run, pieces))
