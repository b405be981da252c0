"""Slows down password guessing: after ``max_failures`` wrong passwords for one user name from one
client address within ``window``, that pair may not log in again until the window has passed.

Keyed by name *and* address so that someone guessing cannot lock a colleague out from elsewhere.
Kept in memory: one `cvalues annotate serve` process is one app; a restart forgets the counts,
which a guesser cannot trigger.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MAX_FAILURES = 5
WINDOW_S = 15 * 60


class LoginThrottle:
    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()  # FastAPI runs sync handlers in a thread pool

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times

    def retry_after(self, name: str, address: str) -> int:
        """Seconds until ``name`` may try again from ``address``; 0 when it may now."""
        now = self._clock()
        with self._lock:
            times = self._recent((name, address), now)
            if len(times) < self.max_failures:
                return 0
            return max(1, int(times[0] + self.window_s - now + 0.999))

    def failed(self, name: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            key = (name, address)
            times = self._recent(key, now)
            times.append(now)
            self._failures[key] = times

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._failures.pop((name, address), None)
