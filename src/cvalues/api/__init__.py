"""The public Python API of cvalues; the CLI is a thin layer over it.

    import cvalues
    result = cvalues.evaluate(model="gguf:smollm2", suite="sample", out="runs/nb")
    result.summary["row"]                          # the paper's row
    result.tasks["mc-l2"].metrics.acc_ci
    for s in result.tasks["mc-l2"].samples: ...
    result = await cvalues.evaluate_async(...)      # in async code

Single tasks: ``cvalues.mc``, ``cvalues.mc_score``, ``cvalues.generate``, ``cvalues.judge`` (and
``*_async``). Every synchronous function also works inside a running event loop (Jupyter).
"""

from cvalues.api._eval import EvalResult, evaluate, evaluate_async
from cvalues.api._pairs import pairs, pairs_async, pairs_build_mc, pairs_check, pairs_export
from cvalues.api._single import (
    generate,
    generate_async,
    judge,
    judge_async,
    mc,
    mc_async,
    mc_score,
)
from cvalues.core.results import RunResults, read_results

__all__ = [
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
]
