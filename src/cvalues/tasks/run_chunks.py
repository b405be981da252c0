"""A chunked task's requests, a chunk at a time: items saved, requests screened and answered,
sample lines written, answers dropped; memory stays flat whatever the input's size."""

from __future__ import annotations

from dataclasses import dataclass, replace

from cvalues.core.backend import Backend
from cvalues.core.files import AtomicLines
from cvalues.core.requests import is_skipped
from cvalues.execute.executor import ExecutionResult, execute
from cvalues.execute.progress import progress_bar
from cvalues.execute.screen import (
    kept_requests,
    with_skipped,
)
from cvalues.store import Store
from cvalues.tasks.run_screen import screen_groups
from cvalues.tasks.task import ChunkedTask, RunOptions


@dataclass
class StreamedSamples:
    """What a chunked run leaves for ``_finish``: the samples written so far and the counts."""

    lines: AtomicLines
    first_error: str | None = None
    n_requests: int = 0


async def run_chunks(
    task: ChunkedTask,
    model: Backend,
    store: Store,
    options: RunOptions,
    dataset_id: int | None,
    total: int | None,
    executions: list[ExecutionResult],
    streamed: StreamedSamples,
    window: int | None = None,
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
                screens = screen_groups(task.model(), chunk.groups, options, window)
                for group, screen in zip(chunk.groups, screens, strict=True):
                    execution = await execute(
                        group.requests if screen is None else kept_requests(screen),
                        model,
                        group.settings,
                        store,
                        progress=False,
                    )
                    results.append(
                        execution if screen is None else with_skipped(execution, screen, len(group.requests))
                    )
                samples = task.score_chunk(chunk, results)
                for sample in samples:
                    streamed.lines.write(sample)
                    if not streamed.first_error and not is_skipped(sample.get("error")):
                        streamed.first_error = sample.get("error")
                streamed.n_requests += sum(len(r.responses) for r in results)
                executions += [replace(r, responses=[], hashes=[]) for r in results]
                bar.advance(len(chunk.items), failed=sum(1 for s in samples if s.get("error")))
    except BaseException:  # an interrupt or an error: no half-written samples.jsonl
        streamed.lines.discard()
        raise
