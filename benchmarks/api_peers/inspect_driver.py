"""Run inspect_ai over a prompt file against an OpenAI-compatible server; print timing as JSON.

Runs in the peers' virtualenv (inspect_ai is not a cvalues dependency):

    PEER/bin/python benchmarks/api_peers/inspect_driver.py --base-url URL --prompts F.jsonl \
        --concurrency 32 --max-tokens 16 --model instant --log-dir DIR
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--prompts", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--model", default="instant")
    parser.add_argument("--log-dir", required=True)
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "EMPTY")

    from inspect_ai import Task, eval
    from inspect_ai.dataset import Sample
    from inspect_ai.solver import generate

    prompts = [json.loads(line)["prompt"] for line in args.prompts.open(encoding="utf-8")]
    task = Task(dataset=[Sample(input=p, id=i) for i, p in enumerate(prompts)], solver=generate())
    cpu0, t0 = time.process_time(), time.perf_counter()
    logs = eval(
        task,
        model=f"openai/{args.model}",
        model_base_url=args.base_url,
        model_args={"responses_api": False},
        max_connections=args.concurrency,
        max_tokens=args.max_tokens,
        temperature=0.0,
        log_dir=args.log_dir,
        display="none",
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if not logs:
        raise SystemExit("inspect_ai returned no log (interrupted?)")
    log = logs[0]
    done = sum(1 for s in (log.samples or []) if s.output and s.output.completion)
    import inspect_ai

    print(
        json.dumps(
            {
                "tool": "inspect_ai",
                "version": inspect_ai.__version__,
                "items": len(prompts),
                "answered": done,
                "status": log.status,
                "wall_s": wall,
                "cpu_s": cpu,
            }
        )
    )


if __name__ == "__main__":
    main()
