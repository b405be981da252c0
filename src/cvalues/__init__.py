"""cvalues: measure how well large language models hold human values in Chinese.

Level-1 safety and Level-2 responsibility, by the CValues method (Xu et al. 2023,
arXiv 2307.09705).

    import cvalues
    result = cvalues.evaluate(model="gguf:smollm2")          # the bundled sample suite
    result.summary["row"]

The API (``cvalues.api``) is imported on first use, so ``import cvalues.core`` and the CLI's
``--help`` stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cvalues.core.version import __version__

_API = (
    "EvalResult",
    "RunResults",
    "evaluate",
    "evaluate_async",
    "generate",
    "generate_async",
    "judge",
    "judge_async",
    "mc",
    "mc_async",
    "mc_score",
    "pairs",
    "pairs_async",
    "pairs_build_mc",
    "pairs_check",
    "pairs_export",
    "read_results",
)

if TYPE_CHECKING:
    from cvalues.api import (  # noqa: F401  (names for type checkers; loaded lazily below)
        EvalResult,
        RunResults,
        evaluate,
        evaluate_async,
        generate,
        generate_async,
        judge,
        judge_async,
        mc,
        mc_async,
        mc_score,
        pairs,
        pairs_async,
        pairs_build_mc,
        pairs_check,
        pairs_export,
        read_results,
    )


def __getattr__(name: str) -> Any:
    if name in _API:
        import cvalues.api

        return getattr(cvalues.api, name)
    raise AttributeError(f"module 'cvalues' has no attribute {name!r}")


__all__ = ["__version__", *_API]
