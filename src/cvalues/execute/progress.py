"""The executor's progress bar (rich, on stderr): done/total, items/s, ETA, failures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _ItemsPerSecondColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- items/s" if speed is None else f"{speed:.2f} items/s", style="progress.data.speed")


class ProgressHandle:
    """What the executor moves forward: ``advance(n, failed=k)`` after each batch."""

    def __init__(self, progress: Progress, task_id: Any) -> None:
        self._progress = progress
        self._task_id = task_id
        self._failed = 0

    def advance(self, n: int, *, failed: int = 0) -> None:
        self._failed += failed
        self._progress.update(self._task_id, advance=n, failed=self._failed)


@contextmanager
def progress_bar(description: str, *, total: int, done: int, enabled: bool) -> Iterator[ProgressHandle]:
    """A bar that starts at ``done`` of ``total`` (items served from the store count as done).

    Starting completed work at ``done`` rather than advancing by it keeps cached items out of
    the items/s rate and so out of the ETA.
    """
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _ItemsPerSecondColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[failed]} failed"),
        console=Console(stderr=True),
        disable=not enabled,
    )
    with progress:
        task_id = progress.add_task(description, total=total, completed=done, failed=0)
        yield ProgressHandle(progress, task_id)
