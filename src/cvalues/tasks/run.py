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
import hashlib
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from cvalues.core.backend import Backend, ModelSpec
from cvalues.core.errors import InputError
from cvalues.core.files import AtomicLines, write_json
from cvalues.core.requests import GenerationSettings, ModelRequest
from cvalues.core.results import Execution, RunResults, Sample
from cvalues.core.version import __version__
from cvalues.execute.executor import ExecutionResult, execute, run_interruptible
from cvalues.execute.progress import progress_bar
from cvalues.models.lazy import LazyBackend
from cvalues.store import Store

# Written into a run directory when its run starts: a directory without it (deleted, or never
# used by this store) holds no run, whatever the store remembers of that path.
RUN_MARKER = ".cvalues-run"
T = TypeVar("T")


@dataclass(frozen=True)
class RequestGroup:
    """Requests sent with one set of generation settings (e.g. sample k with seed + k)."""

    settings: GenerationSettings
    requests: Sequence[ModelRequest]
    description: str = ""


@dataclass(frozen=True)
class DatasetRecord:
    """The dataset a run reads, as the store records it (``items`` are saved with it)."""

    name: str
    source: str
    sha256: str
    n_items: int
    items: Sequence[Any] = ()


@dataclass
class Scored:
    """What a task makes of its answers: the sample lines, the results body, rows for the store."""

    samples: list[dict[str, Any]]
    body: dict[str, Any]
    save: Callable[[Store, str], None] | None = None


@dataclass(frozen=True)
class RunContext:
    run_id: str
    store: Store | None
    executions: list[ExecutionResult]


class Task(Protocol):
    """One kind of evaluation. Tasks never call a backend: they build requests and read answers."""

    name: str

    def model(self) -> ModelSpec | None:
        """The model answering the requests (None: the task sends none, e.g. ``mc score``)."""
        ...

    def dataset_record(self) -> DatasetRecord | None:
        """The dataset and the items asked about, recorded in the store (None: nothing to record)."""
        ...

    def item_keys(self) -> Iterable[str]:
        """The items asked about, in order: part of the run's identity (may be a stream)."""
        ...

    def identity(self) -> dict[str, Any]:
        """What determines the answers, besides the items."""
        ...

    def request_groups(self) -> list[RequestGroup]: ...

    def score(self, run: RunContext) -> Scored: ...


@dataclass(frozen=True)
class TaskChunk:
    """A slice of a chunked task: its items (saved in the store when its turn comes) and requests."""

    items: Sequence[Any]
    groups: list[RequestGroup]


@runtime_checkable
class ChunkedTask(Task, Protocol):
    """A task over more items than memory should hold, run a chunk at a time.

    For each chunk of ``chunks()`` the run saves its items, sends its groups through the executor
    and writes the sample lines ``score_chunk`` makes of the answers to samples.jsonl at once.
    ``score`` is then asked only for the results body (from what the task tallied in
    ``score_chunk``; its ``samples`` are ignored, and ``RunContext.executions`` carry counts but
    no responses). ``request_groups`` is not called; ``dataset_record().items`` should be empty.
    The results returned carry no samples in memory: read them back with ``read_samples``.
    """

    def chunks(self) -> Iterable[TaskChunk]: ...

    def score_chunk(self, chunk: TaskChunk, executions: list[ExecutionResult]) -> list[dict[str, Any]]: ...


@dataclass
class _StreamedSamples:
    """What a chunked run leaves for ``_finish``: the samples written so far and the counts."""

    lines: AtomicLines
    first_error: str | None = None
    n_requests: int = 0


class ItemsTask:
    """What a task over a dataset's items has in common: the first ``limit`` items, recorded as they
    are in the store, their ids as the run's item set. Subclasses are dataclasses with ``spec``,
    ``dataset`` (``name``, ``source``, ``sha256``, ``n_items``, ``items``) and ``limit``."""

    spec: ModelSpec
    dataset: Any
    limit: int | None

    def items(self) -> list[Any]:
        return self.dataset.items[: self.limit] if self.limit else list(self.dataset.items)

    def model(self) -> ModelSpec:
        return self.spec

    def dataset_record(self) -> DatasetRecord:
        d = self.dataset
        return DatasetRecord(d.name, d.source, d.sha256, d.n_items, self.items())

    def item_keys(self) -> Sequence[str]:
        return [item.id for item in self.items()]


@dataclass(frozen=True)
class RunOptions:
    """How a run is carried out: where it writes, and how the backend is driven (not its identity)."""

    out_dir: Path | None
    new_run: bool = False
    progress: bool = True
    concurrency: int = 8
    batch_size: int = 8
    device: str = "auto"
    max_retries: int = 6
    engine: str = "fast"  # transformers: the CPU fast path where tested, or "plain"
    batch_tokens: int | None = None  # local models: a token budget per forward pass
    # How requests travel (not part of any identity: a run resumes across executors).
    executor: str = "local"  # or "ray": Ray actors each holding the backend
    ray_address: str | None = None
    ray_workers: int = 2
    label: str = ""  # shown before each progress bar, e.g. "[2/7] mc-l2" in a suite


def new_run_id(task: str) -> str:
    return f"{task}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def items_identity(keys: Iterable[str]) -> dict[str, Any]:
    """The item set as a count and a hash of the keys joined by \\x1f (read as a stream)."""
    digest, n = hashlib.sha256(), 0
    for key in keys:
        digest.update(("\x1f" if n else "").encode("utf-8") + key.encode("utf-8"))
        n += 1
    return {"n": n, "sha256": digest.hexdigest()[:16]}


def describe_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences, e.g. ``max_tokens 48 -> 40``, ``items 64 -> 8``."""
    changes: list[str] = []
    for key, value in new.items():
        before = old.get(key)
        if key == "items" and isinstance(value, dict):
            if not isinstance(before, dict) or before.get("sha256") != value.get("sha256"):
                n_before = before.get("n") if isinstance(before, dict) else "?"
                same_n = n_before == value.get("n")
                changes.append(f"items {n_before} -> {value.get('n')}" + (" (other items)" if same_n else ""))
        elif isinstance(value, dict) and isinstance(before, dict):
            changes += [
                f"{name} {before.get(name)!r} -> {v!r}" for name, v in value.items() if before.get(name) != v
            ]
        elif before != value:
            changes.append(f"{key} {before!r} -> {value!r}")
    return changes


def resolve_run(store: Store, task: Task, out_dir: Path, *, dataset_id: int | None, new_run: bool) -> str:
    """The run recorded for ``out_dir`` when its identity matches, else a new run (see the module doc)."""
    identity = {**task.identity(), "items": items_identity(task.item_keys())}
    previous = store.find_run_by_out_dir(out_dir)
    if previous is not None and not new_run and _marker(out_dir) == previous.id:
        changes = describe_changes(dict(previous.settings), identity)
        if previous.task != task.name:
            changes.insert(0, f"task {previous.task!r} -> {task.name!r}")
        if previous.dataset_id != dataset_id:
            changes.append("dataset")
        if changes:
            raise InputError(
                f"{out_dir} holds run {previous.id} made with other settings ({'; '.join(changes)}); "
                "re-run with the same settings to resume it, choose another --out, "
                "or pass --new-run to start a new run there",
                flag="--new-run",
            )
        return previous.id
    run_id = new_run_id(task.name)
    spec = task.model()
    store.create_run(
        run_id,
        task=task.name,
        model_spec=model_block(spec) if spec is not None else {},
        settings=identity,
        dataset_id=dataset_id,
        out_dir=out_dir,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RUN_MARKER).write_text(run_id + "\n", encoding="utf-8")
    return run_id


def _marker(out_dir: Path) -> str | None:
    try:
        return (out_dir / RUN_MARKER).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def model_block(spec: ModelSpec) -> dict[str, Any]:
    """How results.json and the store name a model (its chat format and remote-code trust included)."""
    return dict(spec.to_record())


def execution_summary(
    executions: Sequence[ExecutionResult],
    started: float,
    first_error: str | None,
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
        first_error=first_error,
        elapsed_s=round(time.perf_counter() - started, 3),
        items_per_s=round(sent / busy, 3) if sent and busy else None,
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
    model = backend if backend is not None else (open_backend(spec, options) if owned and spec else None)
    started = time.perf_counter()
    store.set_run_status(run_id, "running")
    executions: list[ExecutionResult] = []
    streamed = _StreamedSamples(AtomicLines(options.out_dir / "samples.jsonl")) if chunked else None
    try:
        if streamed is not None:
            assert model is not None and isinstance(task, ChunkedTask)
            total = dataset.n_items if dataset is not None else None
            await _run_chunks(task, model, store, options, dataset_id, total, executions, streamed)
        for group in groups:
            assert model is not None
            executions.append(
                await execute(
                    group.requests,
                    model,
                    group.settings,
                    store,
                    progress=options.progress,
                    description=f"{options.label} {group.description}".strip(),
                )
            )
    except (KeyboardInterrupt, asyncio.CancelledError):
        store.set_run_status(run_id, "interrupted")
        raise
    finally:
        if owned and model is not None:
            await model.aclose()
    return _finish(task, options, store, run_id, executions, started, streamed)


async def _run_chunks(
    task: ChunkedTask,
    model: Backend,
    store: Store,
    options: RunOptions,
    dataset_id: int | None,
    total: int | None,
    executions: list[ExecutionResult],
    streamed: _StreamedSamples,
) -> None:
    """Each chunk in turn: items saved, requests answered, sample lines written, answers dropped
    (``executions`` keeps each group's counts). One progress bar over all chunks, in items."""
    description = f"{options.label} {task.name}".strip()
    try:
        with progress_bar(description, total=total or 0, done=0, enabled=options.progress) as bar:
            for chunk in task.chunks():
                if dataset_id is not None and chunk.items:
                    store.save_items(dataset_id, list(chunk.items))
                results = []
                for group in chunk.groups:
                    results.append(
                        await execute(group.requests, model, group.settings, store, progress=False)
                    )
                samples = task.score_chunk(chunk, results)
                for sample in samples:
                    streamed.lines.write(sample)
                    streamed.first_error = streamed.first_error or sample.get("error")
                streamed.n_requests += sum(len(r.responses) for r in results)
                executions += [replace(r, responses=[], hashes=[]) for r in results]
                bar.advance(len(chunk.items), failed=sum(1 for s in samples if s.get("error")))
    except BaseException:  # an interrupt or an error: no half-written samples.jsonl
        streamed.lines.discard()
        raise


def _finish(
    task: Task,
    options: RunOptions,
    store: Store | None,
    run_id: str,
    executions: list[ExecutionResult],
    started: float,
    streamed: _StreamedSamples | None = None,
) -> RunResults:
    if streamed is not None:
        assert store is not None  # a chunked task always sends requests
        return _finish_streamed(task, options, store, run_id, executions, started, streamed)
    scored = task.score(RunContext(run_id=run_id, store=store, executions=executions))
    if store is not None and scored.save is not None:
        scored.save(store, run_id)
    first_error = next((s.get("error") for s in scored.samples if s.get("error")), None)
    execution = execution_summary(executions, started, first_error) if store is not None else None
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
    streamed: _StreamedSamples,
) -> RunResults:
    """``_finish`` for a chunked task: its samples.jsonl is already written (to be put in place)."""
    assert options.out_dir is not None
    try:
        scored = task.score(RunContext(run_id=run_id, store=store, executions=executions))
        if scored.save is not None:
            scored.save(store, run_id)
        execution = execution_summary(
            executions, started, streamed.first_error, n_requests=streamed.n_requests
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
