"""Batched store writes and resume at scale, on SQLite and (with CVALUES_TEST_PG_URL) PostgreSQL.

An answer counts (progress, ``on_saved``) only once its batched write committed; an interrupt
writes what had arrived; a finished run re-run sends nothing, and its 10,000 lookups take a
handful of chunked ``IN`` queries, not one per request. The backend is the deterministic echo
of ``test_executor`` (what is tested is the executor around it, not a model).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from annotate_support import PG_ENV, fresh_database
from cvalues.core.requests import GenerationSettings, Message, ModelRequest, request_hash
from cvalues.execute import execute, run_requests
from cvalues.execute.save_buffer import SaveBuffer
from cvalues.store import Store, open_store
from cvalues.store.store import IN_CHUNK_SIZE
from test_executor import EchoBackend

SETTINGS = GenerationSettings(max_tokens=16)

DATABASES = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} is not set"),
    ),
]


@pytest.fixture(params=DATABASES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with fresh_database(request.param, tmp_path) as url, open_store(url) as opened:
        yield opened


def _requests(n: int) -> list[ModelRequest]:
    return [ModelRequest(messages=(Message("user", f"问题{i}"),)) for i in range(n)]


def _stored_hashes(store: Store, hashes: list[str]) -> set[str]:
    return set(store.get_responses(hashes))


def test_an_interrupt_keeps_every_answer_that_arrived_and_every_acknowledged_one(store: Store) -> None:
    requests = _requests(40)
    acknowledged: list[str] = []
    counted: list[int] = []

    class Interrupted(EchoBackend):
        async def after_batch(self, n_batches: int) -> None:
            if n_batches == 6:
                counted.append(len(acknowledged))
                raise KeyboardInterrupt  # as Ctrl-C lands in the loop

    backend = Interrupted(batch_size=1, max_concurrency=1)
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(
            execute(
                requests,
                backend,
                SETTINGS,
                store,
                progress=False,
                adaptive_concurrency=False,
                save_every=1000,
                save_interval_s=60,
                on_saved=acknowledged.extend,
            )
        )
    hashes = [request_hash(backend.spec.key, SETTINGS, r) for r in requests]
    stored = _stored_hashes(store, hashes)
    answered = {hashes[int(prompt.removeprefix("问题"))] for prompt in backend.sent[:5]}
    # Nothing was acknowledged before the interrupt (one write of up to 1,000 rows was pending) ...
    assert counted == [0]
    # ... yet the five answers that had arrived were written as the executor unwound,
    assert stored == answered
    # and acknowledged only then: nothing acknowledged is missing from the store.
    assert set(acknowledged) == answered
    # A re-run sends only what is missing.
    again = EchoBackend(batch_size=1)
    result = run_requests(requests, again, SETTINGS, store, progress=False)
    assert result.n_cached == 5 and result.n_sent == 35
    assert len(again.sent) == 35


def test_writes_are_batched_and_every_answer_is_saved_before_it_is_acknowledged(store: Store) -> None:
    requests = _requests(100)
    hashes = [request_hash(EchoBackend().spec.key, SETTINGS, r) for r in requests]
    checks: list[bool] = []

    def on_saved(saved: list[str]) -> None:
        checks.append(set(saved) <= _stored_hashes(store, saved))

    commits: list[int] = []
    event.listen(store.engine, "commit", lambda _conn: commits.append(1))
    result = asyncio.run(
        execute(
            requests,
            EchoBackend(batch_size=1, max_concurrency=8),
            SETTINGS,
            store,
            progress=False,
            save_every=32,
            save_interval_s=60,
            on_saved=on_saved,
        )
    )
    assert result.n_sent == 100 and result.n_failed == 0
    assert checks == [True] * 4  # 32 + 32 + 32 + the last 4
    assert len(commits) == 4
    assert _stored_hashes(store, hashes) == set(hashes)


def test_a_failed_write_acknowledges_nothing_and_keeps_the_rows() -> None:
    written: list[list[str]] = []
    acknowledged: list[str] = []
    fail = [True]

    def save(rows: list) -> None:
        if fail[0]:
            raise RuntimeError("database is locked")
        written.append([digest for digest, _, _ in rows])

    buffer = SaveBuffer(save, lambda rows: acknowledged.extend(d for d, _, _ in rows), max_rows=2)
    row = ("h1", ModelRequest(messages=()), None)
    with pytest.raises(RuntimeError):
        buffer.add([row, ("h2", *row[1:])])  # type: ignore[list-item]
    assert acknowledged == [] and len(buffer) == 2
    fail[0] = False
    buffer.flush()
    assert written == [["h1", "h2"]] and acknowledged == ["h1", "h2"]


def test_resume_of_10000_requests_sends_nothing_with_chunked_lookups(store: Store) -> None:
    requests = _requests(10_000)
    first = run_requests(requests, EchoBackend(batch_size=64), SETTINGS, store, progress=False)
    assert first.n_sent == 10_000

    selects: list[str] = []
    event.listen(
        store.engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: (
            selects.append(statement) if statement.lstrip().upper().startswith("SELECT") else None
        ),
    )
    again = EchoBackend(batch_size=64)
    second = run_requests(requests, again, SETTINGS, store, progress=False)
    assert second.n_cached == 10_000 and second.n_sent == 0
    assert again.batches == []
    assert [r.text for r in second.responses] == [f"echo:问题{i}" for i in range(10_000)]
    assert len(selects) == -(-10_000 // IN_CHUNK_SIZE)  # one IN query per chunk, not per request


def test_the_spelled_out_to_dicts_match_dataclasses_asdict() -> None:
    from dataclasses import asdict

    from cvalues.core.requests import ModelResponse

    settings = GenerationSettings(temperature=0.7, max_tokens=9, top_p=0.9, seed=3, system_prompt="系统")
    assert settings.to_dict() == asdict(settings)
    response = ModelResponse(
        text="好",
        choice_logprobs={"A": -0.1, "B": None},
        error=None,
        input_tokens=3,
        output_tokens=1,
        latency_s=0.5,
        extra={"finish_reason": "stop", "nested": {"k": [1, 2]}},
    )
    as_dict = response.to_dict()
    assert as_dict == asdict(response)
    as_dict["extra"]["nested"]["k"].append(3)
    assert response.extra["nested"]["k"] == [1, 2]  # a copy, as asdict makes
