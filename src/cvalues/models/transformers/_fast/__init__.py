"""The transformers backend's CPU fast path: private torch/transformers internals, kept behind a
coverage check (``coverage``) that sends anything untested to plain transformers.

Nothing outside ``cvalues.models.transformers`` should import from here.
"""

from cvalues.models.transformers._fast.attention import cvalues_attention
from cvalues.models.transformers._fast.coverage import (
    ENGINES,
    Engine,
    EngineChoice,
    choose_engine,
    uncovered_reason,
)
from cvalues.models.transformers._fast.greedy_decode import greedy_generate
from cvalues.models.transformers._fast.prefix_prefill import SharedPrefix, forward_row
from cvalues.models.transformers._fast.row_parallel import cpu_workers, map_pieces

__all__ = [
    "ENGINES",
    "Engine",
    "EngineChoice",
    "SharedPrefix",
    "choose_engine",
    "cpu_workers",
    "cvalues_attention",
    "forward_row",
    "greedy_generate",
    "map_pieces",
    "uncovered_reason",
]
