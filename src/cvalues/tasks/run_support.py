"""What ``cvalues generate`` and ``cvalues judge`` share with the MC runner: a run identified by its
output directory (resume; changed settings refused unless ``--new-run``), and requests sent through
the executor in groups that each have their own generation settings (one seed per sample).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cvalues.core.errors import InputError
from cvalues.core.requests import GenerationSettings, ModelRequest
from cvalues.execute.executor import ExecutionResult, execute, run_interruptible
from cvalues.tasks.mc_runner import _describe_changes, new_run_id

if TYPE_CHECKING:
    from cvalues.core.backend import Backend
    from cvalues.store import Store


@dataclass(frozen=True)
class RequestGroup:
    """Requests sent with one set of generation settings (e.g. sample k with seed + k)."""

    settings: GenerationSettings
    requests: Sequence[ModelRequest]
    description: str = ""


def resolve_run(
    store: Store,
    *,
    task: str,
    out_dir: Path,
    identity: dict[str, Any],
    model_spec: dict[str, Any],
    dataset_id: int | None,
    new_run: bool,
) -> str:
    """The run recorded for ``out_dir`` when its identity matches, else a new run.

    A run there made with another identity is refused (InputError naming ``--new-run``) unless
    ``new_run``: its results would otherwise be silently replaced by different ones.
    """
    out_key = str(out_dir.resolve())
    previous = store.find_run_by_out_dir(out_key)
    if previous is not None and not new_run:
        changes = _describe_changes(dict(previous.settings), identity)
        if previous.task != task:
            changes.insert(0, f"task {previous.task!r} -> {task!r}")
        if previous.dataset_id != dataset_id:
            changes.append("dataset")
        if changes:
            raise InputError(
                f"{out_dir} holds run {previous.id} made with other settings ({'; '.join(changes)}); "
                "re-run with the same settings to resume it, or pass --new-run to start a new run there",
                flag="--new-run",
            )
        return previous.id
    run_id = new_run_id(task)
    store.create_run(
        run_id, task=task, model_spec=model_spec, settings=identity, dataset_id=dataset_id, out_dir=out_key
    )
    return run_id


def run_request_groups(
    groups: Sequence[RequestGroup],
    backend: Backend,
    store: Store,
    *,
    progress: bool = True,
    close_backend: bool = False,
) -> list[ExecutionResult]:
    """Send every group through the executor, one after the other, on one event loop.

    One loop for all groups because a server backend's HTTP client belongs to the loop it was
    first used on; a local model is loaded once, on the first request of the first group.
    """

    async def main() -> list[ExecutionResult]:
        results: list[ExecutionResult] = []
        try:
            for group in groups:
                results.append(
                    await execute(
                        group.requests,
                        backend,
                        group.settings,
                        store,
                        progress=progress,
                        description=group.description,
                    )
                )
        finally:
            if close_backend:
                await backend.aclose()
        return results

    return run_interruptible(main)


def execution_summary(
    results: Sequence[ExecutionResult], started: float, first_error: str | None
) -> dict[str, Any]:
    """The ``execution`` block of results.json, summed over the groups."""
    sent = sum(r.n_sent for r in results)
    busy = sum(r.elapsed_s for r in results if r.n_sent)
    return {
        "n_requests": sum(len(r.responses) for r in results),
        "n_cached": sum(r.n_cached for r in results),
        "n_sent": sent,
        "n_deduplicated": sum(r.n_deduplicated for r in results),
        "n_failed": sum(r.n_failed for r in results),
        "first_error": first_error,
        "elapsed_s": round(time.perf_counter() - started, 3),
        "items_per_s": round(sent / busy, 3) if sent and busy else None,
    }


def sample_seeds(seed: int | None, n: int, *, temperature: float = 0.0) -> list[int | None]:
    """The seed of each of ``n`` samples: ``seed + k``, from 0 when no seed is given, so that every
    sample is its own, reproducible request whose seed is recorded. One greedy sample
    (``temperature`` 0) keeps the seed as given, None included: greedy decoding uses no seed."""
    if n == 1 and (seed is not None or temperature <= 0):
        return [seed]
    base = 0 if seed is None else seed
    return [base + k for k in range(n)]


__all__ = ["RequestGroup", "execution_summary", "resolve_run", "run_request_groups", "sample_seeds"]
