"""The run's context-window screen: each request group checked before any request is sent
(``execute.screen``), and the console told what was skipped or cut."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from cvalues.core.backend import ModelSpec
from cvalues.execute.screen import (
    ScreenResult,
    Truncate,
    describe_screen,
    merged,
    screen_for_model,
)
from cvalues.models.context import context_window
from cvalues.tasks.task import RequestGroup, RunOptions


def run_window(spec: ModelSpec | None, options: RunOptions, *, sends: bool) -> int | None:
    """The context window prompts are screened against: ``--context-window``, else what the model
    or its server states; None (no screen) when unknown or nothing is to be sent."""
    if spec is None or not sends:
        return None
    return options.context_window or context_window(spec)


def screen_groups(
    spec: ModelSpec | None, groups: Sequence[RequestGroup], options: RunOptions, window: int | None
) -> list[ScreenResult | None]:
    """Each group's screen, before any request (``execute.screen``): a prompt that cannot fit is
    skipped or cut, never sent to fail in the model. The console hears of it first. None for a
    group where the window is unknown."""
    if spec is None or window is None:
        return [None] * len(groups)
    side: Truncate | None = "left" if options.truncate == "left" else "right" if options.truncate else None
    screens: list[ScreenResult | None] = [
        screen_for_model(spec, group.requests, group.settings, side, limit=window) for group in groups
    ]
    note = describe_screen(merged([s for s in screens if s is not None]), window)
    if note and options.progress:
        print(f"{options.label} {note}".strip(), file=sys.stderr, flush=True)
    return screens
