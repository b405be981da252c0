"""Run lm-eval's ``local-chat-completions`` generate_until over a prompt file; print timing as JSON.

Runs in the peers' virtualenv (lm-eval is not a cvalues dependency). The requests are what a
chat task with ``--apply_chat_template`` hands the model: one user message per prompt,
``max_gen_toks``, greedy, no stop strings.

    PEER/bin/python benchmarks/api_peers/lm_eval_driver.py --base-url URL --prompts F.jsonl \
        --concurrency 32 --max-tokens 16 --model instant
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--prompts", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--model", default="instant")
    args = parser.parse_args()

    import lm_eval
    from lm_eval.api.instance import Instance
    from lm_eval.models.api_models import JsonChatStr
    from lm_eval.models.openai_completions import LocalChatCompletion

    prompts = [json.loads(line)["prompt"] for line in args.prompts.open(encoding="utf-8")]
    model = LocalChatCompletion(
        base_url=args.base_url.rstrip("/") + "/chat/completions",
        model=args.model,
        num_concurrent=args.concurrency,
        max_retries=3,
        tokenizer_backend=None,
        tokenized_requests=False,
    )
    requests = [
        Instance(
            request_type="generate_until",
            doc={"prompt": p},
            arguments=(
                JsonChatStr(json.dumps([{"role": "user", "content": p}], ensure_ascii=False)),
                {"max_gen_toks": args.max_tokens, "until": [], "do_sample": False},
            ),
            idx=i,
        )
        for i, p in enumerate(prompts)
    ]
    cpu0, t0 = time.process_time(), time.perf_counter()
    texts = model.generate_until(requests, disable_tqdm=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    answered = sum(1 for t in texts if t)
    print(
        json.dumps(
            {
                "tool": "lm-eval",
                "version": lm_eval.__version__,
                "items": len(prompts),
                "answered": answered,
                "wall_s": wall,
                "cpu_s": cpu,
            }
        )
    )


if __name__ == "__main__":
    main()
