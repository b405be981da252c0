"""The executor: the one place that sends requests to model backends (cache, batching, resume)."""

from cvalues.execute.executor import ExecutionResult, execute, run_requests

__all__ = ["ExecutionResult", "execute", "run_requests"]
