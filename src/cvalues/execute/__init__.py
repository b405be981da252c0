"""Requests, responses, and the executor that sends them to model backends (cache, batching, resume)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cvalues.execute.requests import (
    GenerationSettings,
    Message,
    ModelRequest,
    ModelResponse,
    RequestKind,
    request_hash,
)

if TYPE_CHECKING:
    from cvalues.execute.executor import ExecutionResult, execute, run_requests

__all__ = [
    "ExecutionResult",
    "GenerationSettings",
    "Message",
    "ModelRequest",
    "ModelResponse",
    "RequestKind",
    "execute",
    "request_hash",
    "run_requests",
]

_EXECUTOR_NAMES = frozenset({"ExecutionResult", "execute", "run_requests"})


def __getattr__(name: str) -> Any:
    # The executor pulls in asyncio and rich; modules that only need the request types
    # (every backend, `cvalues --help`) should not pay for that.
    if name in _EXECUTOR_NAMES:
        from cvalues.execute import executor

        return getattr(executor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
