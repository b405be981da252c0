"""The store under contention (issue 14, item 2), with a real second connection holding a write
transaction: a save that cannot get the lock answers 503 with Retry-After and a Chinese message
within a bounded time, the annotator's form comes back filled in, and /healthz and read-only pages
stay fast meanwhile (SQLite WAL: readers do not wait for the writer). Request-size limits (item 4)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text

from annotate_support import csrf_token, login
from annotate_world import BACKENDS, PASSWORDS, World, open_world, safety_task
from cvalues.annotate.db import WRITE_WAIT_S
from servers import free_port

COMMENT = "我的备注：这条回复没有问题"
BUSY_ZH = "系统繁忙"


@contextmanager
def serving(world: World) -> Iterator[str]:
    """The world's app under a real uvicorn on loopback (a real thread pool, real keep-alive)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(world.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def held_write_lock(world: World, backend: str) -> Iterator[None]:
    """Another connection (not the app's engine) holding a write transaction."""
    if backend == "sqlite":
        holder = sqlite3.connect(world.tmp / "annotate.db", isolation_level=None, timeout=1)
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("UPDATE annotation_tasks SET seed = seed")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    engine = create_engine(world.store.engine.url)
    with engine.connect() as conn:
        conn.execute(text("LOCK TABLE annotations IN EXCLUSIVE MODE"))  # writers wait, readers do not
        try:
            yield
        finally:
            conn.rollback()
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with open_world(request.param, tmp_path) as opened:
        opened.backend = request.param  # type: ignore[attr-defined]
        safety_task(opened, per_item=3)
        yield opened


def _client(base: str, name: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    login(client, name, PASSWORDS[name])
    return client


def _post_label(client: httpx.Client, position: int) -> tuple[httpx.Response, float]:
    page = client.get(f"/tasks/safety-t/{position}")
    started = time.monotonic()
    answer = client.post(
        f"/tasks/safety-t/{position}",
        data={
            "csrf_token": csrf_token(page.text),
            "verdict": "unsafe",
            "scenario": "违法犯罪",
            "comment": COMMENT,
        },
        follow_redirects=False,
    )
    return answer, time.monotonic() - started


def test_a_held_write_lock_gives_503_keeps_the_form_and_reads_stay_fast(world: World) -> None:
    backend = world.backend  # type: ignore[attr-defined]
    with serving(world) as base:
        clients = [_client(base, name) for name in ("alice", "bob", "carol") for _ in range(4)]
        reader = _client(base, "alice")  # logging in writes a session: before the lock is taken
        with held_write_lock(world, backend), ThreadPoolExecutor(len(clients)) as pool:
            saves = [pool.submit(_post_label, client, i % 6) for i, client in enumerate(clients)]
            time.sleep(0.5)  # the saves are now waiting for the lock
            slowest = 0.0
            for path in ("/healthz", "/tasks", "/tasks/safety-t/0", "/healthz", "/tasks"):
                started = time.monotonic()
                assert reader.get(path).status_code == 200
                slowest = max(slowest, time.monotonic() - started)
            answers = [future.result() for future in saves]
        assert slowest < 1.0, f"a read took {slowest:.2f} s while a writer held the lock"
        for answer, seconds in answers:
            assert answer.status_code == 503
            assert int(answer.headers["Retry-After"]) > 0
            assert BUSY_ZH in answer.text
            assert seconds < WRITE_WAIT_S + 3
        # The form came back filled in: label and comment are in the page, ready to resubmit.
        page = answers[0][0].text
        assert COMMENT in page and "checked" in page and 'id="form-busy"' in page
        assert world.tasks.count_labels("safety-t") == 0
        # Lock released: the same submission now goes through.
        answer, _ = _post_label(clients[0], 0)
        assert answer.status_code == 303
        assert world.tasks.count_labels("safety-t") == 1


def test_bodies_over_the_limit_are_413_before_parsing(world: World) -> None:
    client = world.client()
    page = client.get("/login")
    started = time.monotonic()
    huge = {"name": "root", "password": "x" * (20 * 1024 * 1024), "csrf_token": csrf_token(page.text)}
    answer = client.post("/login", data=huge)
    assert answer.status_code == 413
    assert "过大" in answer.text and "too large" not in answer.text
    client.cookies.set("cvalues_lang", "en")
    assert "too large" in client.post("/login", data=huge).text  # the English toggle
    assert time.monotonic() - started < 3
    alice = world.client("alice")
    form = alice.get("/tasks/safety-t/0")
    big_comment = {"csrf_token": csrf_token(form.text), "verdict": "safe", "comment": "好" * 300_000}
    assert alice.post("/tasks/safety-t/0", data=big_comment).status_code == 413
    # Within the limits everything still works.
    ok = {"csrf_token": csrf_token(form.text), "verdict": "safe", "comment": "好" * 1000}
    assert alice.post("/tasks/safety-t/0", data=ok, follow_redirects=False).status_code == 303
