"""Slows down password guessing, in the store: every serving process shares the counts and a
restart forgets nothing.

The scheme (wrong passwords within ``window``):

- per (account, address): after ``pair_failures`` that pair is locked until the window has passed.
  Someone guessing from one address is stopped there; the owner, from their own address, is not.
- per account, from all addresses: after ``account_failures``, each further attempt must wait
  ``2 ** (n - account_failures)`` seconds after the last failure, capped at ``max_delay_s``.
  Guessing from many addresses is slowed to a trickle while the owner waits seconds, not minutes.
- per address, over all accounts: after ``address_failures`` the address is locked for the window
  (one address trying many names).
- globally: after ``global_failures`` within one minute, every login waits ``max_delay_s`` (a
  ceiling on the total guessing rate whatever the addresses).

A successful login clears the account's failures. Behind a reverse proxy the address is the real
client's only when the proxy is trusted (``annotate serve --forwarded-allow-ips``); otherwise
every user shares the proxy's address and only the account-level delay separates them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, func, select

from cvalues.annotate.db import LOGIN_FAILURES, writing
from cvalues.store.tables import utcnow

WINDOW = timedelta(minutes=15)
_GLOBAL_WINDOW = timedelta(minutes=1)
_MAX_KEY_CHARS = 64


@dataclass
class LoginThrottle:
    engine: Engine
    pair_failures: int = 5
    account_failures: int = 5
    address_failures: int = 30
    global_failures: int = 300
    max_delay_s: int = 60
    window: timedelta = WINDOW
    clock: Callable[[], datetime] = utcnow

    def retry_after(self, name: str, address: str) -> int:
        """Seconds until ``name`` may try again from ``address``; 0 when it may now."""
        now = self.clock()
        since = now - self.window
        name, address = name[:_MAX_KEY_CHARS], address[:_MAX_KEY_CHARS]
        table = LOGIN_FAILURES
        recent = table.c.at > since
        with self.engine.connect() as conn:
            pair_first, pair_n = conn.execute(
                select(func.min(table.c.at), func.count()).where(
                    recent, table.c.account == name, table.c.address == address
                )
            ).one()
            account_last, account_n = conn.execute(
                select(func.max(table.c.at), func.count()).where(recent, table.c.account == name)
            ).one()
            address_first, address_n = conn.execute(
                select(func.min(table.c.at), func.count()).where(recent, table.c.address == address)
            ).one()
            global_n = conn.execute(
                select(func.count()).where(table.c.at > now - _GLOBAL_WINDOW)
            ).scalar_one()
        waits = [0.0]
        if pair_n >= self.pair_failures:
            waits.append((pair_first + self.window - now).total_seconds())
        if address_n >= self.address_failures:
            waits.append((address_first + self.window - now).total_seconds())
        if account_n >= self.account_failures:
            delay = min(self.max_delay_s, 2 ** (account_n - self.account_failures))
            waits.append((account_last + timedelta(seconds=delay) - now).total_seconds())
        if global_n >= self.global_failures:
            waits.append(float(self.max_delay_s))
        wait = max(waits)
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        with writing(self.engine) as conn:
            # Rows older than the window count for nothing: sweep them as we go.
            conn.execute(delete(LOGIN_FAILURES).where(LOGIN_FAILURES.c.at <= now - self.window))
            conn.execute(
                LOGIN_FAILURES.insert().values(
                    account=name[:_MAX_KEY_CHARS], address=address[:_MAX_KEY_CHARS], at=now
                )
            )

    def succeeded(self, name: str, address: str) -> None:
        with writing(self.engine) as conn:
            conn.execute(delete(LOGIN_FAILURES).where(LOGIN_FAILURES.c.account == name[:_MAX_KEY_CHARS]))
