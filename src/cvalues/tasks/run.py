"""The Run: what every task shares, written once.

A task is data in, requests out, scored samples and metrics back (``Task``). The run around it
is this module: the dataset and its items recorded in the store, the run's identity checked
(resume, or refuse a changed run unless ``new_run``), the backend opened on first use and closed
at the end, requests sent through the one executor in groups with their own settings, progress,
and ``results.json`` / ``samples.jsonl`` written atomically from typed results.

Chunked tasks (``ChunkedTask``: more items than memory should hold, e.g. 145k pairs) are read,
asked and scored a chunk at a time through the same executor and store (same request hashes,
same resume); their sample lines go to samples.jsonl as each chunk is scored (a temporary file,
renamed when the run ends), so no chunk outlives its turn.

Identity. A run is found by its output directory. What determines its answers (the task's
``identity()``: model, settings, template, rubric …) and which items it asks about (their keys,
hashed) must match the run recorded there; a different ``--limit`` or dataset is refused with the
difference listed. A run directory that was deleted frees its name: the recorded run is left in
the store (its answers stay cached) and a new run starts there.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from cvalues.core.backend import Backend, ModelSpec
from cvalues.core.files import AtomicLines, write_json
from cvalues.core.requests import is_skipped
from cvalues.core.results import Execution, RunResults, Sample
from cvalues.core.version import __version__
from cvalues.execute.executor import ExecutionResult, execute, run_interruptible
from cvalues.execute.screen import (
    kept_requests,
    with_skipped,
)
from cvalues.models.lazy import LazyBackend
from cvalues.store import Store
from cvalues.tasks.run_chunks import StreamedSamples, run_chunks
from cvalues.tasks.run_identity import (
    RUN_MARKER,
    describe_changes,
    items_identity,
    model_block,
    new_run_id,
    resolve_run,
)
from cvalues.tasks.run_screen import run_window, screen_groups
from cvalues.tasks.task import (
    ChunkedTask,
    DatasetRecord,
    ItemsTask,
    RequestGroup,
    RunContext,
    RunOptions,
    Scored,
    Task,
    TaskChunk,
)

T = TypeVar("T")


def execution_summary(
    executions: Sequence[ExecutionResult],
    started: float,
    first_error: str | None,
    context_window: int | None = None,
    executor: str = "local",
    *,
    n_requests: int | None = None,
) -> Execution:
    """``n_requests``: given when the executions' responses were dropped (a chunked run)."""
    sent = sum(r.n_sent for r in executions)
    busy = sum(r.elapsed_s for r in executions if r.n_sent)
    return Execution(
        n_requests=sum(len(r.responses) for r in executions) if n_requests is None else n_requests,
        n_cached=sum(r.n_cached for r in executions),
        n_sent=sent,
        n_deduplicated=sum(r.n_deduplicated for r in executions),
        n_failed=sum(r.n_failed for r in executions),
        n_skipped=sum(r.n_skipped for r in executions),
        n_truncated=sum(r.n_truncated for r in executions),
        context_window=context_window,
        first_error=first_error,
        elapsed_s=round(time.perf_counter() - started, 3),
        items_per_s=round(sent / busy, 3) if sent and busy else None,
        executor=executor,
    )


def sample_seeds(seed: int | None, n: int, *, temperature: float = 0.0) -> list[int | None]:
    """The seed of each of ``n`` samples: ``seed + k``, from 0 when no seed is given, so that every
    sample is its own, reproducible request whose seed is recorded. One greedy sample
    (``temperature`` 0) keeps the seed as given, None included: greedy decoding uses no seed."""
    if n == 1 and (seed is not None or temperature <= 0):
        return [seed]
    base = 0 if seed is None else seed
    return [base + k for k in range(n)]


def open_backend(spec: ModelSpec, options: RunOptions) -> Backend:
    """The backend for ``spec``, created on its first request (a resume that needs none loads nothing)."""
    return LazyBackend(
        spec,
        concurrency=options.concurrency,
        batch_size=options.batch_size,
        device=options.device,
        max_retries=options.max_retries,
        engine=options.engine,
        batch_tokens=options.batch_tokens,
        executor=options.executor,
        ray_address=options.ray_address,
        ray_workers=options.ray_workers,
    )


async def run_task_async(
    task: Task,
    options: RunOptions,
    store: Store | None,
    *,
    backend: Backend | None = None,
) -> RunResults:
    """Run (or resume) ``task``; write results.json and samples.jsonl; return the typed results.

    ``backend`` replaces the one made from the task's model (a model already loaded, or one shared
    by several tasks of a suite); it is then not closed. ``store`` may be None only for a task
    that sends no requests.
    """
    spec = task.model()
    chunked = isinstance(task, ChunkedTask)
    groups = [] if chunked else task.request_groups()
    if store is None:
        if chunked or any(group.requests for group in groups):
            raise ValueError(f"task {task.name!r} sends requests: it needs a store")
        return _finish(task, options, None, new_run_id(task.name), [], time.perf_counter())
    dataset = task.dataset_record()
    dataset_id = None
    if dataset is not None:
        dataset_id = store.upsert_dataset(dataset.name, dataset.source, dataset.sha256, dataset.n_items)
        if dataset.items:
            store.save_items(dataset_id, list(dataset.items))
    if options.out_dir is None:
        raise ValueError(f"task {task.name!r} sends requests: it needs an output directory")
    run_id = resolve_run(store, task, options.out_dir, dataset_id=dataset_id, new_run=options.new_run)
    owned = backend is None and spec is not None and (chunked or any(group.requests for group in groups))
    window = run_window(spec, options, sends=chunked or any(group.requests for group in groups))
    screens = screen_groups(spec, groups, options, window)
    model = backend if backend is not None else (open_backend(spec, options) if owned and spec else None)
    started = time.perf_counter()
    store.set_run_status(run_id, "running")
    executions: list[ExecutionResult] = []
    streamed = StreamedSamples(AtomicLines(options.out_dir / "samples.jsonl")) if chunked else None
    try:
        if streamed is not None:
            assert model is not None and isinstance(task, ChunkedTask)
            total = dataset.n_items if dataset is not None else None
            await run_chunks(task, model, store, options, dataset_id, total, executions, streamed, window)
        for group, screen in zip(groups, screens, strict=True):
            assert model is not None
            execution = await execute(
                group.requests if screen is None else kept_requests(screen),
                model,
                group.settings,
                store,
                progress=options.progress,
                description=f"{options.label} {group.description}".strip(),
            )
            executions.append(
                execution if screen is None else with_skipped(execution, screen, len(group.requests))
            )
    except (KeyboardInterrupt, asyncio.CancelledError):
        store.set_run_status(run_id, "interrupted")
        raise
    finally:
        if owned and model is not None:
            await model.aclose()
    return _finish(task, options, store, run_id, executions, started, window, streamed)


def _finish(
    task: Task,
    options: RunOptions,
    store: Store | None,
    run_id: str,
    executions: list[ExecutionResult],
    started: float,
    window: int | None = None,
    streamed: StreamedSamples | None = None,
) -> RunResults:
    if streamed is not None:
        assert store is not None  # a chunked task always sends requests
        return _finish_streamed(task, options, store, run_id, executions, started, streamed, window)
    scored = task.score(RunContext(run_id=run_id, store=store, executions=executions))
    if store is not None and scored.save is not None:
        scored.save(store, run_id)
    errors = [s.get("error") for s in scored.samples if s.get("error")]
    first_error = next((e for e in errors if not is_skipped(e)), errors[0] if errors else None)
    execution = (
        execution_summary(executions, started, first_error, window, options.executor)
        if store is not None
        else None
    )
    results = RunResults.model_validate(
        {
            "cvalues_version": __version__,
            "run_id": run_id,
            "task": task.name,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            **scored.body,
            **({"execution": execution} if execution is not None else {}),
        }
    )
    results.samples = [Sample.model_validate(s) for s in scored.samples]
    if options.out_dir is not None:  # only a task without requests may run without one (mc score)
        results.out_dir = options.out_dir
        results.write(options.out_dir)
    if store is not None:
        store.set_run_status(run_id, "failed" if results.failed_requests else "finished")
    return results


def _finish_streamed(
    task: Task,
    options: RunOptions,
    store: Store,
    run_id: str,
    executions: list[ExecutionResult],
    started: float,
    streamed: StreamedSamples,
    window: int | None = None,
) -> RunResults:
    """``_finish`` for a chunked task: its samples.jsonl is already written (to be put in place)."""
    assert options.out_dir is not None
    try:
        scored = task.score(RunContext(run_id=run_id, store=store, executions=executions))
        if scored.save is not None:
            scored.save(store, run_id)
        execution = execution_summary(
            executions,
            started,
            streamed.first_error,
            window,
            options.executor,
            n_requests=streamed.n_requests,
        )
        results = RunResults.model_validate(
            {
                "cvalues_version": __version__,
                "run_id": run_id,
                "task": task.name,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                **scored.body,
                "execution": execution,
            }
        )
        results.out_dir = options.out_dir
        streamed.lines.commit()  # samples.jsonl first, results.json last, as RunResults.write
    except BaseException:
        streamed.lines.discard()
        raise
    write_json(options.out_dir / "results.json", results.to_json())
    store.set_run_status(run_id, "failed" if results.failed_requests else "finished")
    return results


def run_task(
    task: Task, options: RunOptions, store: Store | None, *, backend: Backend | None = None
) -> RunResults:
    """``run_task_async`` from synchronous code (also inside a running event loop, e.g. Jupyter)."""
    return run_sync(lambda: run_task_async(task, options, store, backend=backend))


def run_sync(main: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from synchronous code.

    With no event loop running in this thread: a fresh loop whose worker threads an interrupt does
    not wait for (Ctrl-C stops at once; finished batches are already stored). Inside a running
    loop (Jupyter, ``asyncio.run``), where a second loop cannot run in the same thread: the same,
    in a helper thread, and this thread waits for it.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_on_new_loop(main)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = _run_on_new_loop(main)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="cvalues-run", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def _run_on_new_loop(main: Callable[[], Awaitable[T]]) -> T:
    async def wrapped() -> T:
        return await main()

    return run_interruptible(wrapped)


__all__ = [
    "RUN_MARKER",
    "ChunkedTask",
    "DatasetRecord",
    "ItemsTask",
    "RequestGroup",
    "RunContext",
    "RunOptions",
    "Scored",
    "Task",
    "TaskChunk",
    "describe_changes",
    "execution_summary",
    "items_identity",
    "model_block",
    "new_run_id",
    "resolve_run",
    "run_sync",
    "run_task",
    "run_task_async",
    "sample_seeds",
]
