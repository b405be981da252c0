"""The executor: the one place that sends requests to a model backend.

It serves what the store already holds, sends each distinct request once, batches and
parallelises the rest as the backend asks (under an adaptive concurrency limit for servers),
saves finished answers in batched writes, and shows progress. Tasks build requests and read
responses; they never call a backend themselves.

Interrupts (Ctrl-C, task cancellation): every answer that arrived is written to the store
(answers waiting for a batched write are written as the executor unwinds). A batch still in
flight is abandoned and sent again on the next run. Its ``complete`` call is cancelled at its
current ``await``: an HTTP backend drops the connection (the server may still finish that
generation); a backend that computes in a worker thread (``asyncio.to_thread``)
cannot be stopped from Python, so ``run_requests`` runs such threads as daemons and does not
wait for them, and the process can exit at once while the thread is still computing.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from cvalues.core.requests import GenerationSettings, ModelRequest, ModelResponse, request_hash
from cvalues.execute.concurrency import AdaptiveLimit, FixedLimit
from cvalues.execute.progress import progress_bar
from cvalues.execute.save_buffer import (
    DEFAULT_SAVE_EVERY,
    DEFAULT_SAVE_INTERVAL_S,
    AnsweredRow,
    SaveBuffer,
)

if TYPE_CHECKING:  # the store pulls in SQLAlchemy; importing requests stays light
    from cvalues.core.backend import Backend
    from cvalues.store.store import Store

# A failing backend can return a whole HTML error page; keep the stored message readable.
MAX_ERROR_CHARS = 2000

T = TypeVar("T")
PendingRequest = tuple[str, ModelRequest]  # (request hash, request)


@dataclass
class ExecutionResult:
    """Responses aligned with the input requests, and how they were obtained.

    Every input position is counted once in exactly one of ``n_cached`` (served from the store),
    ``n_sent`` (first occurrence of a request sent to the backend) and ``n_deduplicated`` (a
    repeat, within this call, of a request that was sent). ``n_failed`` counts input positions
    whose response carries an ``error``.
    """

    responses: list[ModelResponse]
    hashes: list[str]
    n_cached: int
    n_sent: int
    n_failed: int
    n_deduplicated: int
    elapsed_s: float
    # (new limit, reason) each time adaptive concurrency changed the limit, in order.
    concurrency_changes: list[tuple[int, str]] = field(default_factory=list)
    # Set by the run's context-window screen (tasks.run): positions never sent (their response's
    # error says why, ``core.requests.is_skipped``) and prompts cut by ``--truncate``.
    n_skipped: int = 0
    n_truncated: int = 0


async def execute(
    requests: Sequence[ModelRequest],
    backend: Backend,
    settings: GenerationSettings,
    store: Store,
    *,
    progress: bool = True,
    description: str = "",
    adaptive_concurrency: bool = True,
    save_every: int = DEFAULT_SAVE_EVERY,
    save_interval_s: float = DEFAULT_SAVE_INTERVAL_S,
    on_saved: Callable[[list[str]], None] | None = None,
) -> ExecutionResult:
    """Answer every request, from the store where possible and from ``backend`` otherwise.

    Never raises for a failed request: its response carries ``error`` (it is stored, and sent
    again on the next run). Errors of the store itself, and interrupts, do propagate. The
    backend is not closed: the caller owns it.

    ``adaptive_concurrency``: keep at most an AIMD limit of requests in flight, under the
    backend's ``max_concurrency`` (see ``execute.concurrency``); off, always the maximum.
    Answers are written to the store in batches of ``save_every`` rows or after
    ``save_interval_s``, whichever comes first; an answer counts (progress, ``on_saved`` with its
    hashes, the result) only once it is written, and an interrupt writes what was answered.
    """
    started = time.perf_counter()
    model_key = backend.spec.key
    hashes = [request_hash(model_key, settings, request) for request in requests]
    positions: dict[str, list[int]] = {}
    for index, digest in enumerate(hashes):
        positions.setdefault(digest, []).append(index)

    answers = store.get_responses(positions)
    n_cached = sum(len(positions[digest]) for digest in answers)
    pending = [(digest, requests[where[0]]) for digest, where in positions.items() if digest not in answers]
    # Longest first: similar lengths share a batch (little padding for local models), and an
    # out-of-memory batch shows up at the start rather than after an hour.
    pending.sort(key=lambda entry: _prompt_length(entry[1]), reverse=True)
    n_deduplicated = sum(len(positions[digest]) - 1 for digest, _ in pending)
    batches = list(_chunks(pending, max(1, int(backend.batch_size))))
    ceiling = max(1, int(backend.max_concurrency))
    limiter: AdaptiveLimit | FixedLimit = (
        AdaptiveLimit(ceiling, throttled_start=_throttled(backend))
        if adaptive_concurrency and ceiling > 1
        else FixedLimit(ceiling)
    )

    with progress_bar(description or model_key, total=len(requests), done=n_cached, enabled=progress) as bar:

        def save(rows: list[AnsweredRow]) -> None:
            store.save_responses([(digest, model_key, request, r) for digest, request, r in rows])

        def acknowledge(rows: list[AnsweredRow]) -> None:
            for digest, _, response in rows:
                answers[digest] = response
            bar.advance(
                sum(len(positions[digest]) for digest, _, _ in rows),
                failed=sum(len(positions[digest]) for digest, _, r in rows if not r.ok),
            )
            if on_saved is not None:
                on_saved([digest for digest, _, _ in rows])

        buffer = SaveBuffer(save, acknowledge, max_rows=save_every, max_delay_s=save_interval_s)
        try:
            await _run_batches(batches, backend, settings, limiter, buffer)
        finally:
            # Answers that arrived are kept even on an interrupt; no await, so nothing cancels it.
            buffer.flush()

    responses = [answers[digest] for digest in hashes]
    return ExecutionResult(
        responses=responses,
        hashes=hashes,
        n_cached=n_cached,
        n_sent=len(pending),
        n_failed=sum(not response.ok for response in responses),
        n_deduplicated=n_deduplicated,
        elapsed_s=time.perf_counter() - started,
        concurrency_changes=[(change.limit, change.reason) for change in limiter.history],
    )


def run_requests(
    requests: Sequence[ModelRequest],
    backend: Backend,
    settings: GenerationSettings,
    store: Store,
    *,
    progress: bool = True,
    description: str = "",
    close_backend: bool = False,
) -> ExecutionResult:
    """``execute`` from synchronous code, on a fresh event loop.

    Ctrl-C cancels the run promptly and raises ``KeyboardInterrupt`` (finished batches are kept);
    worker threads started with ``asyncio.to_thread`` are not waited for (see the module doc).
    ``close_backend`` closes the backend on the same loop: an async client bound to this loop
    (httpx, openai) cannot be used from another one.
    """

    async def main() -> ExecutionResult:
        try:
            return await execute(
                requests, backend, settings, store, progress=progress, description=description
            )
        finally:
            if close_backend:
                await backend.aclose()

    return run_interruptible(main)


def run_interruptible(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main()`` on a new event loop whose worker threads an interrupt does not wait for."""
    box: list[T] = []

    async def run_and_keep() -> None:
        # The result is handed back in a box, not as the main task's result: on the way out,
        # asyncio.Runner (Python 3.11) reads its SIGINT handler back with ``signal.getsignal``,
        # whose failed enum lookup formats repr(handler), i.e. repr(main task) with its result:
        # for a finished run, tens of thousands of pydantic reprs (about 0.1 s) thrown away.
        box.append(await main())

    with _old_objects_frozen(), asyncio.Runner() as runner:
        runner.get_loop().set_default_executor(DaemonThreadExecutor())
        runner.run(run_and_keep())
    return box[0]


@contextlib.contextmanager
def _old_objects_frozen() -> Iterator[None]:
    """Keep the objects that exist before a run (modules, classes, the parsed dataset) out of the
    cycle collector's scans while it runs.

    A run allocates a few dozen objects per request, so the collector runs often, and each
    full collection walks every object the imports made (about 200,000): a third of the
    client's CPU per request against a fast server (measured with 1,000 requests). Objects the
    run creates are collected as usual, and the old ones are handed back to the collector at
    the end (``gc.unfreeze``), so nothing is kept alive longer than the run. Skipped where
    something else already froze objects (a pre-forking server) or turned the collector off.
    """
    if gc.get_freeze_count() or not gc.isenabled():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class DaemonThreadExecutor(ThreadPoolExecutor):
    """Runs each call in its own daemon thread, and never waits for them on shutdown.

    asyncio shuts its default executor down with ``wait=True`` when the loop closes; with the
    standard pool, Ctrl-C during a model call in ``asyncio.to_thread`` would hang until that
    call returned. Threads still running then belong to abandoned batches; being daemons,
    they do not keep the process alive either.
    """

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="cvalues-backend")

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the awaiting coroutine, as the standard pool does
                future.set_exception(exc)
            else:
                future.set_result(result)

        threading.Thread(target=run, name=self._thread_name_prefix, daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None


async def _run_batches(
    batches: list[list[PendingRequest]],
    backend: Backend,
    settings: GenerationSettings,
    limiter: AdaptiveLimit | FixedLimit,
    buffer: SaveBuffer,
) -> None:
    """Send batches in the given order, as many in flight as ``limiter`` allows at each moment."""

    async def send(batch: list[PendingRequest]) -> None:
        started = time.perf_counter()
        responses = await _complete_batch(backend, [request for _, request in batch], settings)
        limiter.release(time.perf_counter() - started, _throttled(backend))
        # No await between the answer and handing it to the buffer: a cancellation cannot lose it.
        buffer.add([(digest, request, r) for (digest, request), r in zip(batch, responses, strict=True)])

    if not batches:
        return
    async with asyncio.TaskGroup() as group:
        flusher = group.create_task(buffer.flush_periodically())
        sending = []
        for batch in batches:
            await limiter.acquire()
            sending.append(group.create_task(send(batch)))
        await asyncio.gather(*sending)
        flusher.cancel()


def _throttled(backend: Backend) -> int:
    """How many 429/503 answers the backend has seen (0 for one that does not count them)."""
    return int(getattr(backend, "throttled", 0))


async def _complete_batch(
    backend: Backend, requests: list[ModelRequest], settings: GenerationSettings
) -> list[ModelResponse]:
    started = time.perf_counter()
    try:
        responses = await backend.complete(requests, settings)
    except Exception as exc:  # the backend broke its contract; fail this batch, not the run
        message = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        return [ModelResponse(error=message) for _ in requests]
    if len(responses) != len(requests):
        message = f"backend returned {len(responses)} responses for {len(requests)} requests"
        return [ModelResponse(error=message) for _ in requests]
    latency = time.perf_counter() - started
    for response in responses:
        if response.latency_s is None:
            response.latency_s = latency  # the batch's wall time: what this answer cost to wait for
        if response.error is not None and len(response.error) > MAX_ERROR_CHARS:
            response.error = response.error[:MAX_ERROR_CHARS]
    return list(responses)


def _prompt_length(request: ModelRequest) -> int:
    return sum(len(message.content) for message in request.messages)


def _chunks(values: list[T], size: int) -> list[list[T]]:
    return [values[start : start + size] for start in range(0, len(values), size)]
