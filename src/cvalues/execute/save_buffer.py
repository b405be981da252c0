"""Batched store writes: answers wait here briefly and are written in one statement.

One transaction per answer costs more than a fast server's answer (a commit, plus building
and executing a statement); one per ``max_rows`` answers, or per ``max_delay_s``, costs almost
nothing per answer and bounds how long an answer waits unsaved. An answer is *acknowledged*
(counted in progress, made visible to the caller) only after the write that holds it has
committed, so nothing the executor reported can be missing from the store. ``flush`` is
synchronous: called while the executor unwinds from an interrupt, it cannot itself be
cancelled half-way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from cvalues.core.requests import ModelRequest, ModelResponse

AnsweredRow = tuple[str, ModelRequest, ModelResponse]  # (request hash, request, response)

DEFAULT_SAVE_EVERY = 256
DEFAULT_SAVE_INTERVAL_S = 0.1


class SaveBuffer:
    def __init__(
        self,
        save: Callable[[list[AnsweredRow]], None],
        acknowledge: Callable[[list[AnsweredRow]], None],
        *,
        max_rows: int = DEFAULT_SAVE_EVERY,
        max_delay_s: float = DEFAULT_SAVE_INTERVAL_S,
    ) -> None:
        self._save = save
        self._acknowledge = acknowledge
        self.max_rows = max(1, max_rows)
        self.max_delay_s = max_delay_s
        self._rows: list[AnsweredRow] = []
        self._oldest: float | None = None
        self.n_writes = 0

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, rows: list[AnsweredRow]) -> None:
        if not rows:
            return
        if not self._rows:
            self._oldest = time.monotonic()
        self._rows.extend(rows)
        if len(self._rows) >= self.max_rows or self._overdue():
            self.flush()

    def flush(self) -> None:
        """Write what is waiting, then acknowledge it. A failed write raises and acknowledges nothing."""
        rows, self._rows, self._oldest = self._rows, [], None
        if not rows:
            return
        try:
            self._save(rows)
        except BaseException:
            self._rows = rows + self._rows  # not written: keep them for a later try
            raise
        self.n_writes += 1
        self._acknowledge(rows)

    async def flush_periodically(self) -> None:
        """Write answers that waited ``max_delay_s`` while no new answer came to trigger it."""
        while True:
            await asyncio.sleep(self.max_delay_s)
            if self._overdue():
                self.flush()

    def _overdue(self) -> bool:
        return self._oldest is not None and time.monotonic() - self._oldest >= self.max_delay_s
