"""The executor's bookkeeping: cache, dedupe, batching, failures, order, interrupts.

The backend here is a deterministic echo that records its calls: this tests what the executor
does around a backend, not a model (real-model tests live elsewhere).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from cvalues.core.backend import Backend, ModelSpec
from cvalues.core.requests import GenerationSettings, Message, ModelRequest, ModelResponse, request_hash
from cvalues.execute import ExecutionResult, execute, run_requests
from cvalues.store import Store, open_store

SETTINGS = GenerationSettings(max_tokens=32)


class EchoBackend:
    """Answers ``echo:<prompt>``; fails requests for which ``fails`` is true; records every batch."""

    def __init__(
        self,
        *,
        batch_size: int = 2,
        max_concurrency: int = 1,
        fails: Callable[[str], bool] = lambda _prompt: False,
    ) -> None:
        self.spec = ModelSpec(provider="hf", name="echo-test")
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.fails = fails
        self.batches: list[list[str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.closed = False

    async def complete(
        self, requests: Sequence[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # give the other workers the chance to start their batches
            prompts = [_prompt(request) for request in requests]
            self.batches.append(prompts)
            await self.after_batch(len(self.batches))
            return [
                ModelResponse(error=f"refused {p}") if self.fails(p) else ModelResponse(text=f"echo:{p}")
                for p in prompts
            ]
        finally:
            self.in_flight -= 1

    async def after_batch(self, n_batches: int) -> None:
        """Hook for the interrupt tests."""

    async def aclose(self) -> None:
        self.closed = True

    @property
    def sent(self) -> list[str]:
        return [prompt for batch in self.batches for prompt in batch]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield opened
    opened.close()


def _request(prompt: str) -> ModelRequest:
    return ModelRequest(messages=(Message("system", "你是一个有帮助的助手。"), Message("user", prompt)))


def _prompt(request: ModelRequest) -> str:
    return request.messages[-1].content


def _run(requests: list[ModelRequest], backend: EchoBackend, store: Store) -> ExecutionResult:
    return run_requests(requests, backend, SETTINGS, store, progress=False)


def _assert_accounted(result: ExecutionResult, n_requests: int) -> None:
    assert result.n_cached + result.n_sent + result.n_deduplicated == n_requests
    assert len(result.responses) == len(result.hashes) == n_requests


def test_the_echo_backend_satisfies_the_protocol() -> None:
    assert isinstance(EchoBackend(), Backend)


def test_second_run_is_served_from_the_store(store: Store) -> None:
    requests = [_request(f"问题{n}") for n in range(5)]
    backend = EchoBackend()
    first = _run(requests, backend, store)
    assert (first.n_sent, first.n_cached, first.n_failed) == (5, 0, 0)

    again = EchoBackend()
    second = _run(requests, again, store)
    assert again.batches == []
    assert (second.n_sent, second.n_cached) == (0, 5)
    assert [r.text for r in second.responses] == [r.text for r in first.responses]
    assert second.hashes == [request_hash("hf:echo-test", SETTINGS, r) for r in requests]
    _assert_accounted(second, 5)


def test_other_settings_or_model_are_not_served_from_the_cache(store: Store) -> None:
    requests = [_request("同一个问题")]
    _run(requests, EchoBackend(), store)

    hotter = EchoBackend()
    run_requests(requests, hotter, GenerationSettings(max_tokens=32, temperature=0.7), store, progress=False)
    other_model = EchoBackend()
    other_model.spec = ModelSpec(provider="hf", name="another-model")
    _run(requests, other_model, store)
    assert hotter.sent == ["同一个问题"]
    assert other_model.sent == ["同一个问题"]


def test_identical_requests_are_sent_once(store: Store) -> None:
    requests = [_request("甲"), _request("乙"), _request("甲"), _request("甲")]
    backend = EchoBackend(batch_size=8)
    result = _run(requests, backend, store)
    assert sorted(backend.sent) == ["乙", "甲"]
    assert (result.n_sent, result.n_deduplicated, result.n_cached) == (2, 2, 0)
    assert [r.text for r in result.responses] == ["echo:甲", "echo:乙", "echo:甲", "echo:甲"]
    _assert_accounted(result, 4)


def test_results_follow_the_input_order_although_sending_is_by_length(store: Store) -> None:
    prompts = ["短", "一个很长很长的问题，比其他的都长", "中等长度的问题", "也短", "次长的一个问题啊"]
    backend = EchoBackend(batch_size=2)
    result = _run([_request(p) for p in prompts], backend, store)
    assert [r.text for r in result.responses] == [f"echo:{p}" for p in prompts]
    lengths = [len(p) for p in backend.sent]
    assert lengths == sorted(lengths, reverse=True)


def test_batches_respect_batch_size_and_concurrency(store: Store) -> None:
    backend = EchoBackend(batch_size=3, max_concurrency=2)
    result = _run([_request(f"q{n:02d}") for n in range(7)], backend, store)
    assert [len(batch) for batch in backend.batches] == [3, 3, 1]
    assert backend.max_in_flight == 2
    assert result.n_sent == 7

    one_at_a_time = EchoBackend(batch_size=1, max_concurrency=1)
    _run([_request(f"r{n}") for n in range(4)], one_at_a_time, store)
    assert one_at_a_time.max_in_flight == 1
    assert len(one_at_a_time.batches) == 4


def test_failures_are_counted_stored_and_retried_on_the_next_run(store: Store) -> None:
    prompts = ["好1", "坏1", "好2", "坏2", "坏1"]
    flaky = EchoBackend(fails=lambda p: p.startswith("坏"))
    first = _run([_request(p) for p in prompts], flaky, store)
    assert first.n_failed == 3  # counted per input position: "坏1" appears twice
    assert [r.ok for r in first.responses] == [True, False, True, False, False]
    assert first.responses[1].error == "refused 坏1"

    healthy = EchoBackend()
    second = _run([_request(p) for p in prompts], healthy, store)
    assert sorted(healthy.sent) == ["坏1", "坏2"]
    assert (second.n_failed, second.n_cached, second.n_sent, second.n_deduplicated) == (0, 2, 2, 1)
    assert [r.text for r in second.responses] == [f"echo:{p}" for p in prompts]


def test_a_backend_that_raises_fails_its_batch_not_the_run(store: Store) -> None:
    class BrokenBackend(EchoBackend):
        async def complete(
            self, requests: Sequence[ModelRequest], settings: GenerationSettings
        ) -> list[ModelResponse]:
            if any(_prompt(r) == "炸" for r in requests):
                raise ConnectionError("server went away")
            return await super().complete(requests, settings)

    result = _run([_request("炸"), _request("fine")], BrokenBackend(batch_size=1), store)
    assert result.n_failed == 1
    assert result.responses[0].error == "ConnectionError: server went away"
    assert result.responses[1].text == "echo:fine"


def test_a_backend_returning_the_wrong_number_of_responses_fails_the_batch(store: Store) -> None:
    class ShortBackend(EchoBackend):
        async def complete(
            self, requests: Sequence[ModelRequest], settings: GenerationSettings
        ) -> list[ModelResponse]:
            return (await super().complete(requests, settings))[:-1]

    result = _run([_request("a"), _request("b")], ShortBackend(batch_size=2), store)
    assert result.n_failed == 2
    assert "1 responses for 2 requests" in (result.responses[0].error or "")


def test_latency_is_filled_in_when_the_backend_gives_none(store: Store) -> None:
    result = _run([_request("计时")], EchoBackend(), store)
    assert result.responses[0].latency_s is not None
    assert result.responses[0].latency_s >= 0


def test_keyboard_interrupt_keeps_finished_batches_and_a_rerun_sends_the_rest(store: Store) -> None:
    class InterruptedBackend(EchoBackend):
        async def after_batch(self, n_batches: int) -> None:
            if n_batches == 3:
                raise KeyboardInterrupt

    prompts = [f"问题{n:02d}" for n in range(10)]
    requests = [_request(p) for p in prompts]
    interrupted = InterruptedBackend(batch_size=2)
    with pytest.raises(KeyboardInterrupt):
        _run(requests, interrupted, store)
    finished = [p for batch in interrupted.batches[:2] for p in batch]
    assert len(finished) == 4

    resumed = EchoBackend(batch_size=2)
    result = _run(requests, resumed, store)
    assert sorted(resumed.sent) == sorted(set(prompts) - set(finished))
    assert (result.n_cached, result.n_sent) == (4, 6)
    assert [r.text for r in result.responses] == [f"echo:{p}" for p in prompts]


def test_ctrl_c_does_not_wait_for_a_batch_running_in_a_worker_thread(store: Store) -> None:
    """SIGINT during a batch computed in ``asyncio.to_thread`` (as a local model does)."""
    release = threading.Event()
    thread_finished = threading.Event()

    class ThreadedBackend(EchoBackend):
        async def after_batch(self, n_batches: int) -> None:
            if n_batches < 3:
                return

            def long_model_call() -> None:
                release.wait(timeout=60)  # stands for minutes of generation
                thread_finished.set()

            computing = asyncio.ensure_future(asyncio.to_thread(long_model_call))
            await asyncio.sleep(0)  # the thread is running
            signal.raise_signal(signal.SIGINT)  # what Ctrl-C does
            await computing

    prompts = [f"问题{n:02d}" for n in range(8)]
    backend = ThreadedBackend(batch_size=2)
    try:
        with pytest.raises(KeyboardInterrupt):
            _run([_request(p) for p in prompts], backend, store)
        # Had the executor waited for the worker thread, it would have finished by now.
        assert not thread_finished.is_set()
    finally:
        release.set()

    finished = [p for batch in backend.batches[:2] for p in batch]
    hashes = [request_hash("hf:echo-test", SETTINGS, _request(p)) for p in prompts]
    stored = store.get_responses(hashes)
    assert sorted(r.text for r in stored.values()) == sorted(f"echo:{p}" for p in finished)


def test_cancelling_execute_keeps_finished_batches(store: Store) -> None:
    class SlowBackend(EchoBackend):
        async def after_batch(self, n_batches: int) -> None:
            if n_batches == 2:
                await asyncio.Event().wait()  # never finishes: cancelled while in flight

    async def main() -> None:
        task = asyncio.create_task(
            execute([_request(f"q{n}") for n in range(6)], backend, SETTINGS, store, progress=False)
        )
        while len(backend.batches) < 2:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    backend = SlowBackend(batch_size=2)
    asyncio.run(main())
    first_batch = backend.batches[0]
    hashes = [request_hash("hf:echo-test", SETTINGS, _request(p)) for p in first_batch]
    assert len(store.get_responses(hashes)) == 2
    in_flight = [request_hash("hf:echo-test", SETTINGS, _request(p)) for p in backend.batches[1]]
    assert store.get_responses(in_flight) == {}


def test_close_backend_closes_it_on_the_same_loop(store: Store) -> None:
    backend = EchoBackend()
    run_requests([_request("x")], backend, SETTINGS, store, progress=False, close_backend=True)
    assert backend.closed
    kept_open = EchoBackend()
    _run([_request("y")], kept_open, store)
    assert not kept_open.closed


def test_progress_bar_reports_done_over_total_on_stderr(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    _run([_request("已缓存")], EchoBackend(), store)
    run_requests(
        [_request("已缓存"), _request("新的"), _request("另一个")],
        EchoBackend(),
        SETTINGS,
        store,
        description="mc demo",
    )
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "mc demo" in captured.err
    assert "3/3" in captured.err


def test_empty_request_list(store: Store) -> None:
    result = _run([], EchoBackend(), store)
    assert result.responses == []
    assert (result.n_sent, result.n_cached, result.n_failed) == (0, 0, 0)
