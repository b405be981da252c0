"""Adaptive concurrency for server backends: AIMD under a fixed ceiling (``--concurrency``).

A server that is overloaded says so with 429 / 503 answers, or answers ever more slowly as its
queue grows. Sending more then only lengthens the queue (and burns retries), so the limit is
cut multiplicatively; while the server keeps up, the limit grows additively, back to the
ceiling. The limit starts with a slow start (doubling per window from ``initial``) so that
a healthy server reaches the ceiling within a few dozen answers.

Signals, each judged once per *window* (as many completions as the limit was when the window
opened, roughly one round trip at that limit), so that one burst is one decrease, not many:

- **throttling**: the backend's ``throttled`` counter (429 and 503 answers it saw and retried)
  went up during the window: limit × ``decrease_factor``.
- **latency growth**: the window's median latency exceeds both ``latency_tolerance`` × the
  baseline (the lowest window median seen, i.e. the server's latency when it was not queueing)
  and the baseline + ``min_latency_growth_s``. The absolute margin matters on loopback: against
  a server that answers in a millisecond, a client's own event loop adds tens of ms of queueing
  at a high limit, which is not the server falling behind and must not cut the limit.

``release`` is synchronous and ``acquire`` only waits for a free slot, so the limiter adds
no await between an answer and its save.
"""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass, field


@dataclass
class AIMDSettings:
    initial: int = 4
    floor: int = 1
    additive_increase: int = 1
    decrease_factor: float = 0.5
    latency_tolerance: float = 2.0
    min_latency_growth_s: float = 0.25


@dataclass
class LimitChange:
    """One change of the limit, kept for tests and diagnostics."""

    limit: int
    reason: str  # "slow start", "increase", "throttled", "latency"


class AdaptiveLimit:
    """How many requests may be in flight now; ``acquire`` before sending, ``release`` after."""

    def __init__(
        self, ceiling: int, settings: AIMDSettings | None = None, *, throttled_start: int = 0
    ) -> None:
        self.settings = settings or AIMDSettings()
        self.ceiling = max(1, ceiling)
        self.floor = max(1, min(self.settings.floor, self.ceiling))
        self.limit = max(self.floor, min(self.settings.initial, self.ceiling))
        self.in_flight = 0
        self.history: list[LimitChange] = []
        self._slow_start = True
        self._baseline_s: float | None = None
        self._window_latencies: list[float] = []
        self._window_size = self.limit
        self._throttled_seen = self._throttled_at_window_start = throttled_start
        self._slot_freed = asyncio.Event()

    async def acquire(self) -> None:
        while self.in_flight >= self.limit:
            self._slot_freed.clear()
            await self._slot_freed.wait()
        self.in_flight += 1

    def release(self, latency_s: float | None, throttled_total: int = 0) -> None:
        """A request finished after ``latency_s``; ``throttled_total``: the backend's throttle counter now."""
        self.in_flight -= 1
        self._throttled_seen = max(self._throttled_seen, throttled_total)
        if latency_s is not None:
            self._window_latencies.append(latency_s)
        if self._throttled_seen > self._throttled_at_window_start:
            self._decrease("throttled")
        elif len(self._window_latencies) >= self._window_size:
            self._close_window()
        self._slot_freed.set()

    def _close_window(self) -> None:
        median = statistics.median(self._window_latencies)
        baseline = self._baseline_s = median if self._baseline_s is None else min(self._baseline_s, median)
        grown = median > baseline * self.settings.latency_tolerance and (
            median > baseline + self.settings.min_latency_growth_s
        )
        if grown:
            self._decrease("latency")
        elif self.limit < self.ceiling:
            if self._slow_start:
                self._set(min(self.ceiling, self.limit * 2), "slow start")
            else:
                self._set(min(self.ceiling, self.limit + self.settings.additive_increase), "increase")
        else:
            self._new_window()

    def _decrease(self, reason: str) -> None:
        self._slow_start = False
        self._set(max(self.floor, int(self.limit * self.settings.decrease_factor)), reason)

    def _set(self, limit: int, reason: str) -> None:
        if limit != self.limit or reason in ("throttled", "latency"):
            self.history.append(LimitChange(limit, reason))
        self.limit = limit
        self._new_window()

    def _new_window(self) -> None:
        self._window_latencies = []
        self._window_size = self.limit
        self._throttled_at_window_start = self._throttled_seen


@dataclass
class FixedLimit:
    """The same interface with a constant limit (local models, or adaptive concurrency off)."""

    limit: int
    in_flight: int = 0
    history: list[LimitChange] = field(default_factory=list)
    _slot_freed: asyncio.Event = field(default_factory=asyncio.Event)

    async def acquire(self) -> None:
        while self.in_flight >= self.limit:
            self._slot_freed.clear()
            await self._slot_freed.wait()
        self.in_flight += 1

    def release(self, latency_s: float | None, throttled_total: int = 0) -> None:
        self.in_flight -= 1
        self._slot_freed.set()
