"""What a task is, for the run core (``tasks.run``): the Task protocol and its chunked form, the
request groups it sends, what it returns, and how a run is carried out (``RunOptions``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cvalues.core.backend import ModelSpec
from cvalues.core.requests import GenerationSettings, ModelRequest
from cvalues.execute.executor import ExecutionResult
from cvalues.store import Store


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
