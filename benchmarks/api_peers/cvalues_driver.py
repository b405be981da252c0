"""Run ``cvalues generate`` in-process over a prompt file against a server; print timing as JSON.

The real CLI path (Typer command, dataset reader, run record, executor, store, output files),
timed from the command's start to its end; module imports happen before the clock starts (a
one-prompt warm-up run in a throwaway store), as they do for the peers' drivers.

    python benchmarks/api_peers/cvalues_driver.py --base-url URL --prompts F.jsonl --db sqlite:///x.db \
        --out DIR --concurrency 32 --max-tokens 16 --model instant
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--prompts", type=Path, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--model", default="instant")
    parser.add_argument(
        "--stats-url", help="the instant server's /stats: count the requests the timed run sent"
    )
    args = parser.parse_args()
    os.environ.setdefault("CVALUES_BENCH_KEY", "EMPTY")

    import cvalues
    from cvalues.cli.app import _register, app
    from cvalues.models import chat_http, http_transport
    from cvalues.tasks import run as run_module

    _register()

    def argv(prompts: Path, db: str, out: str) -> list[str]:
        return [
            "generate",
            "--model",
            f"openai:{args.model}",
            "--base-url",
            args.base_url,
            "--api-key-env",
            "CVALUES_BENCH_KEY",
            "--dataset",
            str(prompts),
            "--db",
            db,
            "--out",
            out,
            "--concurrency",
            str(args.concurrency),
            "--max-tokens",
            str(args.max_tokens),
            "--no-progress",
        ]

    # A one-prompt run first, in its own store: the command imports its modules lazily, and the
    # peers' drivers have theirs imported before their clocks start too.
    with tempfile.TemporaryDirectory() as warm:
        one = Path(warm) / "one.jsonl"
        one.write_text(args.prompts.open(encoding="utf-8").readline(), encoding="utf-8")
        with contextlib.redirect_stdout(io.StringIO()):
            app(argv(one, f"sqlite:///{warm}/warm.db", f"{warm}/out"), standalone_mode=False)
    transports: list[str] = []
    opened = http_transport.open_transport

    def recording_open(*a: Any, **k: Any) -> Any:  # which transport the run's client took
        transport = opened(*a, **k)
        transports.append(type(transport).__name__)
        return transport

    chat_http.open_transport = recording_open  # type: ignore[assignment]

    # The request phase alone (the executor: store look-up, hashes, every request, batched answer
    # writes), the part of the command that lm-eval's generate_until corresponds to.
    phase: dict[str, float] = {}
    execute = run_module.execute

    async def timed_execute(*a: Any, **k: Any) -> Any:
        cpu0, t0 = time.process_time(), time.perf_counter()
        try:
            return await execute(*a, **k)
        finally:
            phase["wall_s"] = phase.get("wall_s", 0.0) + time.perf_counter() - t0
            phase["cpu_s"] = phase.get("cpu_s", 0.0) + time.process_time() - cpu0

    run_module.execute = timed_execute  # type: ignore[assignment]
    before = served(args.stats_url)
    cpu0, t0 = time.process_time(), time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        app(argv(args.prompts, args.db, args.out), standalone_mode=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    after = served(args.stats_url)
    sent = None if before is None or after is None else after - before
    samples = [json.loads(line) for line in (Path(args.out) / "samples.jsonl").open(encoding="utf-8")]
    answered = sum(1 for s in samples if s.get("response") or s.get("text") or s.get("reply"))
    print(
        json.dumps(
            {
                "tool": "cvalues",
                "version": getattr(cvalues, "__version__", "dev"),
                "items": len(samples),
                "answered": answered,
                "wall_s": wall,
                "cpu_s": cpu,
                "requests_sent": sent,
                "transport": ",".join(sorted(set(transports))) or None,
                "requests_wall_s": phase.get("wall_s"),
                "requests_cpu_s": phase.get("cpu_s"),
            }
        )
    )


def served(stats_url: str | None) -> int | None:
    if not stats_url:
        return None
    with urllib.request.urlopen(stats_url, timeout=5) as reply:
        return int(json.load(reply)["chat"])


if __name__ == "__main__":
    main()
