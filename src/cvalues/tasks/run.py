"""The Run: what every task shares, written once.

A task is data in, requests out, scored samples and metrics back (``Task``). The run around it
is this module: the dataset and its items recorded in the store, the run's identity checked
(resume, or refuse a changed run unless ``new_run``), the backend opened on first use and closed
at the end, requests sent through the one executor in groups with their own settings, progress,
and ``results.json`` / ``samples.jsonl`` written atomically from typed results.

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
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cvalues.core.backend import Backend, ModelSpec
from cvalues.core.errors import InputError
from cvalues.core.requests import GenerationSettings, ModelRequest, is_skipped
from cvalues.core.results import Execution, RunResults, Sample
from cvalues.core.version import __version__
from cvalues.execute.executor import ExecutionResult, execute, run_interruptible
from cvalues.execute.screen import (
    ScreenResult,
    Truncate,
    describe_screen,
    kept_requests,
    merged,
    screen_for_model,
    with_skipped,
)
from cvalues.models.context import context_window
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

    def item_keys(self) -> Sequence[str]:
        """The items asked about, in order: part of the run's identity."""
        ...

    def identity(self) -> dict[str, Any]:
        """What determines the answers, besides the items."""
        ...

    def request_groups(self) -> list[RequestGroup]: ...

    def score(self, run: RunContext) -> Scored: ...


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
    # A prompt longer than the model's context window: None skips its item (the reason in
    # samples.jsonl), "left"/"right" cuts it from that side. Never sent to fail in the model.
    truncate: str | None = None
    # The window to screen against instead of the one the model or server states (a server
    # started with a smaller context, e.g. llama.cpp's -c 2048, or one that states none).
    context_window: int | None = None
    label: str = ""  # shown before each progress bar, e.g. "[2/7] mc-l2" in a suite


def new_run_id(task: str) -> str:
    return f"{task}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def items_identity(keys: Sequence[str]) -> dict[str, Any]:
    digest = hashlib.sha256("\x1f".join(keys).encode("utf-8")).hexdigest()
    return {"n": len(keys), "sha256": digest[:16]}


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
    context_window: int | None = None,
    executor: str = "local",
) -> Execution:
    sent = sum(r.n_sent for r in executions)
    busy = sum(r.elapsed_s for r in executions if r.n_sent)
    return Execution(
        n_requests=sum(len(r.responses) for r in executions),
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
    groups = task.request_groups()
    if store is None:
        if any(group.requests for group in groups):
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
    owned = backend is None and spec is not None and any(group.requests for group in groups)
    window, screens = screen_groups(spec, groups, options)
    model = backend if backend is not None else (open_backend(spec, options) if owned and spec else None)
    started = time.perf_counter()
    store.set_run_status(run_id, "running")
    executions: list[ExecutionResult] = []
    try:
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
    return _finish(task, options, store, run_id, executions, started, window)


def screen_groups(
    spec: ModelSpec | None, groups: Sequence[RequestGroup], options: RunOptions
) -> tuple[int | None, list[ScreenResult | None]]:
    """The model's context window and each group's screen, before any request (``execute.screen``):
    a prompt that cannot fit is skipped or cut, never sent to fail in the model. The console hears
    of it first. No screen (None) where the window is unknown or nothing is to be sent."""
    sends = spec is not None and any(g.requests for g in groups)
    window = (options.context_window or context_window(spec)) if spec is not None and sends else None
    if spec is None or window is None:
        return None, [None] * len(groups)
    side: Truncate | None = "left" if options.truncate == "left" else "right" if options.truncate else None
    screens: list[ScreenResult | None] = [
        screen_for_model(spec, group.requests, group.settings, side, limit=window) for group in groups
    ]
    note = describe_screen(merged([s for s in screens if s is not None]), window)
    if note and options.progress:
        print(f"{options.label} {note}".strip(), file=sys.stderr, flush=True)
    return window, screens


def _finish(
    task: Task,
    options: RunOptions,
    store: Store | None,
    run_id: str,
    executions: list[ExecutionResult],
    started: float,
    window: int | None = None,
) -> RunResults:
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
    "DatasetRecord",
    "ItemsTask",
    "RequestGroup",
    "RunContext",
    "RunOptions",
    "Scored",
    "Task",
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
