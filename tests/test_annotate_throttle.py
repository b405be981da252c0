"""Login throttling in the store (issue 14, item 3): shared by every process, kept across restarts;
per (account, address) lock, account-level progressive delay, per-address and global ceilings; the
owner is slowed, never locked out for the window. Proxy trust is its own option, off by default."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from annotate_support import csrf_token
from annotate_world import PASSWORDS, World, open_world
from cvalues.annotate.login_throttle import LoginThrottle
from cvalues.annotate.server import uvicorn_config
from cvalues.store import open_store
from cvalues.store.annotation_tables import Base
from cvalues.store.engine import alembic_config
from servers import free_port


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'throttle.db'}"


def test_pair_lock_and_account_delay_do_not_lock_the_owner_out(db: str) -> None:
    clock = Clock()
    store = open_store(db)
    throttle = LoginThrottle(store.engine, clock=clock)
    for _ in range(5):
        assert throttle.retry_after("root", "6.6.6.6") == 0
        throttle.failed("root", "6.6.6.6")
    # The guesser's address is locked for the window ...
    assert 14 * 60 < throttle.retry_after("root", "6.6.6.6") <= 15 * 60
    # ... the owner elsewhere waits a second, not fifteen minutes.
    assert throttle.retry_after("root", "10.0.0.7") == 1
    clock.advance(1)
    assert throttle.retry_after("root", "10.0.0.7") == 0
    throttle.succeeded("root", "10.0.0.7")
    assert throttle.retry_after("root", "6.6.6.6") == 0
    store.close()


def test_delay_grows_with_failures_from_many_addresses_and_is_capped(db: str) -> None:
    clock = Clock()
    store = open_store(db)
    throttle = LoginThrottle(store.engine, clock=clock)
    waits = []
    for n in range(12):
        clock.advance(throttle.retry_after("root", f"10.1.0.{n}"))
        throttle.failed("root", f"10.1.0.{n}")
        waits.append(throttle.retry_after("root", "10.9.9.9"))
    assert waits[:4] == [0, 0, 0, 0]
    assert waits[4:11] == [1, 2, 4, 8, 16, 32, 60]
    assert waits[11] == 60  # capped
    store.close()


def test_counts_are_shared_between_processes_and_survive_a_restart(db: str) -> None:
    clock = Clock()
    first, second = open_store(db), open_store(db)
    one, two = LoginThrottle(first.engine, clock=clock), LoginThrottle(second.engine, clock=clock)
    for n in range(5):
        (one if n % 2 else two).failed("root", "6.6.6.6")
    assert one.retry_after("root", "6.6.6.6") > 60 and two.retry_after("root", "6.6.6.6") > 60
    first.close()
    second.close()
    reopened = open_store(db)
    assert LoginThrottle(reopened.engine, clock=clock).retry_after("root", "6.6.6.6") > 60
    clock.advance(15 * 60)
    assert LoginThrottle(reopened.engine, clock=clock).retry_after("root", "6.6.6.6") == 0
    reopened.close()


def test_address_and_global_ceilings(db: str) -> None:
    clock = Clock()
    store = open_store(db)
    throttle = LoginThrottle(store.engine, clock=clock, address_failures=10, global_failures=25)
    for n in range(10):
        throttle.failed(f"user{n}", "6.6.6.6")
    assert throttle.retry_after("someone-new", "6.6.6.6") > 60
    assert throttle.retry_after("someone-new", "10.0.0.1") == 0
    for n in range(15):
        throttle.failed(f"other{n}", f"10.2.0.{n}")
    assert throttle.retry_after("someone-new", "10.0.0.1") == 60
    store.close()


# -- through HTTP, behind a "proxy" ------------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world("sqlite", tmp_path) as opened:
        yield opened


def _serve(world: World, forwarded_allow_ips: str | None) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    config = uvicorn_config(
        world.app, port=port, forwarded_allow_ips=forwarded_allow_ips, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def _login(base: str, name: str, password: str, forwarded_for: str) -> httpx.Response:
    with httpx.Client(base_url=base, headers={"X-Forwarded-For": forwarded_for}) as client:
        page = client.get("/login")
        data = {"name": name, "password": password, "csrf_token": csrf_token(page.text)}
        return client.post("/login", data=data, follow_redirects=False)


@pytest.mark.parametrize("trusted", [None, "127.0.0.1"])
def test_forwarded_for_is_believed_only_from_trusted_proxies(world: World, trusted: str | None) -> None:
    server, thread, base = _serve(world, trusted)
    try:
        # A guesser rotating X-Forwarded-For gets 5 guesses; after that, refusals (untrusted: the
        # one real address is locked; trusted: the account-level delay stops the rotation).
        codes = [_login(base, "root", f"guess-{n}", f"203.0.113.{n}").status_code for n in range(10)]
        assert codes[:5] == [401] * 5
        assert codes[5:].count(429) >= 3
        owner = _login(base, "root", PASSWORDS["root"], "198.51.100.7")
        if not trusted:
            # Everyone shares the proxy's address: that (account, address) pair is locked.
            assert owner.status_code == 429 and int(owner.headers["Retry-After"]) > 60
            return
        # The owner at their own address waits the account delay (seconds), then gets in.
        waited = 0
        while owner.status_code == 429:
            wait = int(owner.headers["Retry-After"])
            assert wait <= 60
            waited += wait
            time.sleep(wait)
            owner = _login(base, "root", PASSWORDS["root"], "198.51.100.7")
        assert owner.status_code == 303 and waited <= 60
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_migration_0004_matches_the_model_and_downgrades(db: str) -> None:
    store = open_store(db)
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in differences if "login_failures" in repr(d)] == []
    assert "login_failures" in inspect(store.engine).get_table_names()
    config = alembic_config()
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    assert "login_failures" not in inspect(store.engine).get_table_names()
    assert "annotators" in inspect(store.engine).get_table_names()
    store.close()
