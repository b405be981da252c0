"""Drill: a fault-injecting proxy in front of a real llama.cpp server (SmolLM2), N requests.

Each request is answered once straight from the server (the reference), then again through a proxy
on loopback that breaks ``--fault-rate`` of all attempts (retries included) in one of these ways:
429 with ``Retry-After: 1``, 500, 502, 503, a hang past the client's timeout, a body cut short, a
200 whose body is not JSON, a connection reset. The client is cvalues' own ``OpenAIBackend``:
generate requests go through its thin aiohttp transport (``models.chat_http``), which retries by
the openai SDK's rules (connection errors, timeouts, 408, 409, 429, 5xx, a 200 that is not JSON),
waiting as Retry-After says. Every request must end answered or explicitly failed (``error``
set), and no answer may differ from the reference: "silently wrong" must be 0.

    python benchmarks/drill_faults.py                 # 2,000 requests, 30% faults (~30 min on 2 loaded cores)
    python benchmarks/drill_faults.py --n 100 --no-record

Writes ``benchmarks/results/drill_faults-<date>.json`` and appends a section to ``RESULTS.md``.
``--max-tokens 1`` (the default) keeps each request cheap: what is drilled is transport, not the model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import ClientSession, ClientTimeout, web

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the server helpers the test suite uses
sys.path.insert(0, str(HERE))

from drill_support import machine, record_section  # noqa: E402

from cvalues.core.backend import ModelSpec  # noqa: E402
from cvalues.core.requests import GenerationSettings, Message, ModelRequest, ModelResponse  # noqa: E402
from cvalues.models.openai_backend import OpenAIBackend  # noqa: E402
from cvalues.models.smollm2 import smollm2_gguf_path  # noqa: E402
from servers import SERVER_MODEL_ALIAS, start_llama_server, stop_server  # noqa: E402

FAULTS = ("429", "500", "502", "503", "hang", "truncated", "not-json", "reset")
CLIENT_TIMEOUT_S = 4.0


@dataclass
class FaultProxy:
    upstream: str
    rate: float
    seed: int
    counts: Counter[str] = field(default_factory=Counter)
    attempts: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._session: ClientSession | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.attempts += 1
        body = await request.read()
        fault = self._random.choice(FAULTS) if self._random.random() < self.rate else None
        self.counts[fault or "forwarded"] += 1
        if fault in ("429", "500", "502", "503"):
            headers = {"Retry-After": "1"} if fault == "429" else {}
            return web.json_response({"error": {"message": "injected"}}, status=int(fault), headers=headers)
        if fault == "hang":
            await asyncio.sleep(CLIENT_TIMEOUT_S + 2)
            return web.json_response({"error": {"message": "too late"}}, status=504)
        if fault == "reset":
            assert request.transport is not None
            request.transport.abort()  # an RST, not a clean close
            return web.Response()
        if fault == "not-json":
            return web.Response(status=200, body=b"<html>bad gateway</html>", content_type="application/json")
        assert self._session is not None
        async with self._session.request(
            request.method, self.upstream + request.path_qs, data=body or None,
            headers={"Content-Type": request.headers.get("Content-Type", "application/json")},
        ) as upstream:  # fmt: skip
            payload = await upstream.read()
            status, kind = upstream.status, upstream.content_type
        if fault == "truncated":
            # Promise the whole body, send half, drop the connection.
            response = web.StreamResponse(status=status, headers={"Content-Type": kind})
            response.content_length = len(payload)
            await response.prepare(request)
            await response.write(payload[: len(payload) // 2])
            assert request.transport is not None
            request.transport.abort()
            return response
        return web.Response(status=status, body=payload, content_type=kind)

    async def start(self) -> tuple[web.AppRunner, str]:
        self._session = ClientSession(timeout=ClientTimeout(total=300))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return runner, f"http://127.0.0.1:{port}/v1"

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _error_kind(error: str) -> str:
    """An error message without its URL and details, to count errors by kind."""
    return re.sub(r"https?://\S+?(?=:?(\s|$))", "URL", error).split(" (after")[0].split(": ")[0][:80]


def drill_requests(n: int) -> list[ModelRequest]:
    # Harmless, distinct prompts: each has its own reference answer.
    return [
        ModelRequest(messages=(Message(role="user", content=f"第{i}题：{i} 加 {i % 7} 等于多少？"),))
        for i in range(n)
    ]


async def answer_all(base_url: str, requests: list[ModelRequest], settings: GenerationSettings,
                     concurrency: int, max_retries: int) -> list[ModelResponse]:  # fmt: skip
    spec = ModelSpec(provider="openai", name=SERVER_MODEL_ALIAS, base_url=base_url)
    backend = OpenAIBackend(
        spec, timeout_s=CLIENT_TIMEOUT_S, max_retries=max_retries, concurrency=concurrency
    )
    gate = asyncio.Semaphore(concurrency)

    async def one(request: ModelRequest) -> ModelResponse:
        async with gate:
            return (await backend.complete([request], settings))[0]

    try:
        return list(await asyncio.gather(*(one(r) for r in requests)))
    finally:
        await backend.aclose()


async def drill(args: argparse.Namespace, server_base: str, server_root: str) -> dict[str, object]:
    requests = drill_requests(args.n)
    settings = GenerationSettings(max_tokens=args.max_tokens)
    started = time.perf_counter()
    reference = await answer_all(server_base, requests, settings, args.concurrency, 6)
    reference_s = time.perf_counter() - started
    proxy = FaultProxy(server_root, args.fault_rate, args.seed)
    runner, proxy_url = await proxy.start()
    try:
        started = time.perf_counter()
        proxied = await answer_all(proxy_url, requests, settings, args.concurrency, args.max_retries)
        proxied_s = time.perf_counter() - started
    finally:
        await runner.cleanup()
        await proxy.close()
    outcome: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for ref, got in zip(reference, proxied, strict=True):
        if ref.error is not None:
            outcome["reference failed"] += 1
        elif got.error is not None:
            outcome["explicitly failed"] += 1
            errors[_error_kind(got.error)] += 1
        elif got.text == ref.text:
            outcome["answered, same as unproxied"] += 1
        else:
            outcome["silently wrong"] += 1
    return {
        "n": args.n,
        "fault_rate": args.fault_rate,
        "max_retries": args.max_retries,
        "max_tokens": args.max_tokens,
        "concurrency": args.concurrency,
        "attempts_through_proxy": proxy.attempts,
        "injected": dict(proxy.counts),
        "outcome": dict(outcome),
        "silently_wrong": outcome["silently wrong"],
        "errors": dict(errors),
        "seconds": {"unproxied": round(reference_s, 1), "proxied": round(proxied_s, 1)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--fault-rate", type=float, default=0.30)
    parser.add_argument("--max-retries", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    log = Path(tempfile.mkdtemp(prefix="drill-faults-")) / "server.log"
    server = start_llama_server(smollm2_gguf_path(), log)
    try:
        report = asyncio.run(drill(args, server.base_url, server.root_url))
    finally:
        stop_server(server)
    report["machine"] = machine()
    print(json.dumps(report, ensure_ascii=False, indent=2))
    if not args.no_record:
        record_section("drill_faults", report, _markdown(report))
    bad = report["silently_wrong"] or report["outcome"].get("reference failed", 0)  # type: ignore[union-attr]
    return 1 if bad else 0


def _markdown(report: dict[str, object]) -> str:
    outcome = report["outcome"]
    assert isinstance(outcome, dict)
    rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(outcome.items()))
    return (
        f"{report['n']:,} chat requests (`--max-tokens {report['max_tokens']}`), cvalues' `OpenAIBackend` "
        f"(aiohttp transport, the openai SDK's retry rules, {report['max_retries']} retries at most, "
        f"{CLIENT_TIMEOUT_S:g} s timeout) through an "
        f"aiohttp proxy breaking {report['fault_rate']:.0%} of all attempts, in front of llama-cpp-python's "
        f"server with SmolLM2-135M Q4_1. Attempts through the proxy: {report['attempts_through_proxy']:,}; "
        f"injected: {json.dumps(report['injected'], ensure_ascii=False)}.\n\n"
        f"| outcome | requests |\n| --- | --- |\n{rows}\n\n"
        f"Silently wrong (answered, but not the unproxied answer): **{report['silently_wrong']}**. "
        f"Errors of the explicitly failed: {json.dumps(report['errors'], ensure_ascii=False)}. "
        f"Time: unproxied {report['seconds']['unproxied']} s, proxied {report['seconds']['proxied']} s."  # type: ignore[index]
    )


if __name__ == "__main__":
    raise SystemExit(main())
