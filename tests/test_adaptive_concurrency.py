"""Adaptive concurrency (AIMD): the rules on their own, then the executor against a real llama.cpp
server behind a proxy that sheds load with 429 above two requests in flight."""

from __future__ import annotations

import asyncio

import pytest

from cvalues.core.backend import ModelSpec
from cvalues.core.requests import GenerationSettings, Message, ModelRequest
from cvalues.execute import ExecutionResult, execute
from cvalues.execute.concurrency import AdaptiveLimit, AIMDSettings
from cvalues.models.openai_backend import OpenAIBackend
from cvalues.store import open_store
from faulty_proxy import FaultyProxy
from servers import SERVER_MODEL_ALIAS, RunningServer


def finish(limit: AdaptiveLimit, n: int, latency_s: float, throttled: int = 0) -> None:
    """``n`` requests go out and come back, each after ``latency_s``."""

    async def run() -> None:
        for _ in range(n):
            await limit.acquire()
            limit.release(latency_s, throttled)

    asyncio.run(run())


def test_slow_start_doubles_to_the_ceiling_while_latency_holds() -> None:
    limit = AdaptiveLimit(32, AIMDSettings(initial=4))
    finish(limit, 4 + 8 + 16, latency_s=0.01)
    assert limit.limit == 32
    assert [c.limit for c in limit.history] == [8, 16, 32]
    finish(limit, 200, latency_s=0.01)
    assert limit.limit == 32  # never above the ceiling


def test_throttling_halves_the_limit_then_it_grows_by_one_per_window() -> None:
    limit = AdaptiveLimit(32, AIMDSettings(initial=32))
    finish(limit, 1, latency_s=0.01, throttled=1)
    assert limit.limit == 16
    finish(limit, 16, latency_s=0.01, throttled=1)  # no new throttling in this window
    assert limit.limit == 17
    finish(limit, 17, latency_s=0.01, throttled=1)
    assert limit.limit == 18
    finish(limit, 1, latency_s=0.01, throttled=3)
    assert limit.limit == 9
    assert [c.reason for c in limit.history] == ["throttled", "increase", "increase", "throttled"]


def test_repeated_throttling_stops_at_the_floor() -> None:
    limit = AdaptiveLimit(8, AIMDSettings(initial=8, floor=2))
    for count in range(1, 10):
        finish(limit, 1, latency_s=0.01, throttled=count)
    assert limit.limit == 2


def test_latency_growth_cuts_the_limit_but_loopback_jitter_does_not() -> None:
    limit = AdaptiveLimit(16, AIMDSettings(initial=16, min_latency_growth_s=0.25))
    finish(limit, 16, latency_s=0.002)  # baseline window
    finish(limit, 16, latency_s=0.02)  # ten times slower, but only 18 ms more: the client's own queue
    assert limit.limit == 16
    finish(limit, 16, latency_s=1.0)  # the server's queue grows
    assert limit.limit == 8
    assert limit.history[-1].reason == "latency"


def test_a_waiting_acquire_resumes_when_a_slot_frees() -> None:
    async def run() -> list[str]:
        limit = AdaptiveLimit(1, AIMDSettings(initial=1))
        order: list[str] = []
        await limit.acquire()

        async def second() -> None:
            await limit.acquire()
            order.append("second")

        task = asyncio.create_task(second())
        await asyncio.sleep(0.01)
        order.append("release")
        limit.release(0.01)
        await task
        return order

    assert asyncio.run(run()) == ["release", "second"]


def _shedding_run(base_url: str, tmp_path_db: str, *, adaptive: bool, n: int = 24) -> ExecutionResult:
    spec = ModelSpec(
        provider="openai", name=SERVER_MODEL_ALIAS, base_url=base_url, api_key_env="CVALUES_UNSET"
    )
    requests = [ModelRequest(messages=(Message("user", f"Say the number {i}."),)) for i in range(n)]

    async def run() -> ExecutionResult:
        backend = OpenAIBackend(spec, concurrency=16, max_retries=50)
        try:
            with open_store(tmp_path_db) as store:
                return await execute(
                    requests,
                    backend,
                    GenerationSettings(max_tokens=4),
                    store,
                    progress=False,
                    adaptive_concurrency=adaptive,
                )
        finally:
            await backend.aclose()

    return asyncio.run(run())


@pytest.mark.server
def test_the_executor_backs_off_a_server_that_sheds_load(llama_server: RunningServer, tmp_path) -> None:
    with FaultyProxy(llama_server.root_url, max_in_flight=2, shed_retry_after_ms=20) as proxy:
        fixed = _shedding_run(proxy.base_url, f"sqlite:///{tmp_path / 'fixed.db'}", adaptive=False)
        shed_fixed = proxy.shed
    with FaultyProxy(llama_server.root_url, max_in_flight=2, shed_retry_after_ms=20) as proxy:
        adaptive = _shedding_run(proxy.base_url, f"sqlite:///{tmp_path / 'adaptive.db'}", adaptive=True)
        shed_adaptive = proxy.shed
        assert proxy.max_forwarded <= 2
    # Backing off, every request gets through on its retries (at a fixed 16 in flight on a slow
    # machine, some run out of their 50 retries: not asserted, as that depends on the machine).
    assert adaptive.n_failed == 0
    assert fixed.concurrency_changes == []
    reasons = [reason for _, reason in adaptive.concurrency_changes]
    assert "throttled" in reasons
    assert min(limit for limit, _ in adaptive.concurrency_changes) <= 4
    # Backing off sends fewer requests into a full server than a fixed 16 in flight.
    assert shed_adaptive < shed_fixed / 2, (shed_adaptive, shed_fixed)
