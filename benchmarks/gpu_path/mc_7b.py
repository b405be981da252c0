"""GPU benchmark: Level-2 MC, logprob mode, a 7B Qwen2-shaped model, cvalues vs lm-eval's HF backend.

Both tools score the same items in the same run, on one GPU, from the same weights: a model
directory with Qwen2-7B's shape (28 layers, hidden 3584, 28 query / 4 key-value heads, vocabulary
152,064) and random bfloat16 weights, built here once, with a real tokenizer and chat template
(SmolLM2's, by default the folder ``gguf:smollm2`` is converted into). Random weights cost the
same FLOPs as trained ones; the answers mean nothing, only the time and the agreement between
the two tools do.

cvalues: the ``cvalues mc`` pipeline (its requests, executor, store and transformers backend;
one-pass choice scoring). lm-eval: ``HFLM.loglikelihood`` on (chat-templated prompt, choice)
pairs, as its multiple_choice tasks call it. Each side gets an untimed warm-up on a few items;
model load is timed apart. Goal (issue 11): cvalues <= 25 s for the 1,712 items and >= 3x lm-eval.

    pip install "lm-eval>=0.4,<0.5"     # the peer; not a cvalues dependency
    python benchmarks/gpu_path/mc_7b.py --out benchmarks/results/gpu_mc_7b.json \\
        --dataset ../shared/data/cvalues-responsibility-mc-moonshot/cvalues.json
    python benchmarks/gpu_path/mc_7b.py --dry-run      # CPU, a tiny Qwen2, 8 items: checks the script

Prints a Markdown table row and writes the full report (timings, machine, agreement) as JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_DATASET = REPO.parent / "shared" / "data" / "cvalues-responsibility-mc-moonshot" / "cvalues.json"
GOAL_SECONDS = 25.0
GOAL_RATIO = 3.0
WARM_UP_ITEMS = 8

# Qwen2-7B(-Instruct)'s config.json, less what transformers fills in.
SHAPES: dict[str, dict[str, Any]] = {
    "7b": {
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "vocab_size": 152064,
        "max_position_embeddings": 32768,
        "rope_theta": 1000000.0,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False,
    },
    # For --dry-run: the same code path in seconds on a CPU.
    "tiny": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 0,  # the tokenizer's
        "max_position_embeddings": 4096,
        "tie_word_embeddings": True,
    },
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET), help="an MC file or dataset name")
    parser.add_argument("--n", type=int, default=None, help="only the first N items")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="7b")
    parser.add_argument(
        "--model-dir", type=Path, default=Path(tempfile.gettempdir()) / "cvalues-qwen2-7b-random"
    )
    parser.add_argument("--tokenizer-dir", type=Path, default=None, help="default: SmolLM2's (gguf:smollm2)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--batch-size", type=int, default=64, help="rows per forward pass (both tools)")
    parser.add_argument("--batch-tokens", type=int, default=None, help="cvalues: padded tokens per pass")
    parser.add_argument("--engine", default="fast", help="cvalues --engine (a GPU runs plain either way)")
    parser.add_argument("--no-peer", action="store_true", help="run cvalues only")
    parser.add_argument(
        "--dry-run", action="store_true", help="CPU, tiny model, 8 items of the bundled sample"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    return parser


def apply_dry_run(args: argparse.Namespace) -> None:
    args.shape, args.device, args.dtype, args.batch_size = "tiny", "cpu", "float32", 8
    args.n = args.n or 8
    if not Path(args.dataset).is_file():
        args.dataset = "sample"
    if args.model_dir == build_parser().get_default("model_dir"):
        args.model_dir = Path(tempfile.mkdtemp(prefix="cvalues-tiny-qwen2-"))


def smollm2_tokenizer_dir() -> Path:
    from cvalues.core.backend import ModelSpec
    from cvalues.models.smollm2 import resolve_gguf_path
    from cvalues.models.transformers.loading import default_cache_root, gguf_cache_dir, load_local_model

    folder = gguf_cache_dir(resolve_gguf_path("smollm2"), default_cache_root())
    if not folder.is_dir():
        print(f"converting gguf:smollm2 once into {folder} (for its tokenizer) ...", flush=True)
        load_local_model(ModelSpec.parse("gguf:smollm2"), device="cpu")
    return folder


def build_model_dir(folder: Path, shape: str, tokenizer_dir: Path, device: str, dtype: str) -> float:
    """A Qwen2-shaped model with random weights in ``folder`` (kept and reused); seconds taken."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    if (folder / "config.json").is_file() and (folder / ".complete").is_file():
        return 0.0
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    settings = dict(SHAPES[shape])
    settings["vocab_size"] = max(settings["vocab_size"], len(tokenizer))
    config = Qwen2Config(
        **settings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        # Peaked logits on the tiny model, so float rounding does not flip near-ties.
        initializer_range=0.3 if shape == "tiny" else 0.02,
    )
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        with torch.device(device):  # random init on the GPU: seconds, not minutes
            model = Qwen2ForCausalLM(config).eval()
    finally:
        torch.set_default_dtype(previous)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / ".complete").write_text("random weights, seed 0\n", encoding="utf-8")
    del model
    release(device)
    return time.perf_counter() - started


def release(device: str) -> None:
    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def load_items(dataset: str, n: int | None) -> tuple[list[Any], list[Any]]:
    from cvalues.data.resolve import load_mc_dataset
    from cvalues.tasks.mc import build_requests, load_template

    items = load_mc_dataset(dataset).items
    items = items[:n] if n else items
    return items, build_requests(items, load_template(), "logprob")


def run_cvalues(args: argparse.Namespace, items: list[Any], requests: list[Any]) -> dict[str, Any]:
    from cvalues.core.backend import ModelSpec
    from cvalues.core.requests import GenerationSettings
    from cvalues.execute.executor import run_requests
    from cvalues.models.registry import create_backend
    from cvalues.store import open_store
    from cvalues.tasks.mc import interpret

    settings = GenerationSettings(temperature=0.0, max_tokens=1)
    started = time.perf_counter()
    spec = ModelSpec.parse(f"hf:{args.model_dir}", dtype=args.dtype)
    backend = create_backend(
        spec,
        batch_size=args.batch_size,
        batch_tokens=args.batch_tokens,
        device=args.device,
        engine=args.engine,
    )
    load_s = time.perf_counter() - started
    prompts = [backend.prompt_text(r, settings) for r in requests]  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory(prefix="cvalues-gpu-bench-") as scratch:
        warm = open_store(f"sqlite:///{Path(scratch) / 'warm.db'}")
        run_requests(requests[:WARM_UP_ITEMS], backend, settings, warm, progress=False)
        warm.close()
        store = open_store(f"sqlite:///{Path(scratch) / 'requests.db'}")
        synchronize(args.device)
        started = time.perf_counter()
        execution = run_requests(requests, backend, settings, store, progress=False)
        synchronize(args.device)
        eval_s = time.perf_counter() - started
        store.close()
    answers = []
    paths: dict[str, int] = {}
    for item, response in zip(items, execution.responses, strict=True):
        answers.append({"choice_logprobs": response.choice_logprobs, "pred": interpret(item, response)[0]})
        for key in ("choice_path", "engine"):
            label = f"{key}={response.extra.get(key)}"
            paths[label] = paths.get(label, 0) + 1
    result = {
        "load_s": round(load_s, 2),
        "eval_s": round(eval_s, 3),
        "items_per_s": round(len(items) / eval_s, 2),
        "n_sent": execution.n_sent,
        "n_failed": execution.n_failed,
        "paths": paths,
        "engine": backend.engine.extra(),  # type: ignore[attr-defined]
        "answers": answers,
    }
    del backend
    release(args.device)
    return {"result": result, "prompts": prompts}


def run_lmeval(
    args: argparse.Namespace, prompts: list[str], choices: list[tuple[str, ...]]
) -> dict[str, Any]:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    started = time.perf_counter()
    lm = HFLM(
        pretrained=str(args.model_dir),
        backend="causal",
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
    )
    load_s = time.perf_counter() - started

    def instances(count: int) -> list[Any]:
        return [
            Instance("loglikelihood", {}, (prompt, choice), c, ("cvalues_mc", i, 1))
            for i, (prompt, options) in enumerate(zip(prompts[:count], choices[:count], strict=True))
            for c, choice in enumerate(options)
        ]

    lm.loglikelihood(instances(WARM_UP_ITEMS), disable_tqdm=True)
    batch = instances(len(prompts))
    synchronize(args.device)
    started = time.perf_counter()
    scores = lm.loglikelihood(batch, disable_tqdm=True)
    synchronize(args.device)
    eval_s = time.perf_counter() - started
    answers, position = [], 0
    for options in choices:
        pair = {choice: scores[position + c][0] for c, choice in enumerate(options)}
        position += len(options)
        answers.append({"choice_logprobs": pair, "pred": max(options, key=lambda c: pair[c])})
    del lm
    release(args.device)
    return {
        "load_s": round(load_s, 2),
        "eval_s": round(eval_s, 3),
        "items_per_s": round(len(prompts) / eval_s, 2),
        "answers": answers,
    }


def agreement(ours: list[dict[str, Any]], peer: list[dict[str, Any]]) -> dict[str, Any]:
    """Same argmax, and the largest difference between the two tools' choice margins (lm-eval
    moves a trailing newline of the prompt into the continuation, which adds the same log P to
    every choice: the margins cancel it, the raw values do not)."""

    def argmax(scores: dict[str, float | None]) -> str:
        return max(scores, key=lambda c: scores[c] if scores[c] is not None else float("-inf"))

    def margins(scores: dict[str, float | None]) -> list[float]:
        values = [v for v in scores.values() if v is not None]
        return [v - values[0] for v in values]

    same = sum(
        argmax(a["choice_logprobs"]) == argmax(b["choice_logprobs"]) for a, b in zip(ours, peer, strict=True)
    )
    worst = max(
        (
            abs(x - y)
            for a, b in zip(ours, peer, strict=True)
            for x, y in zip(margins(a["choice_logprobs"]), margins(b["choice_logprobs"]), strict=True)
        ),
        default=0.0,
    )
    return {"items": len(ours), "same_argmax": same, "max_abs_margin_diff": round(worst, 5)}


def machine(device: str) -> dict[str, Any]:
    import torch
    import transformers

    info: dict[str, Any] = {
        "device": torch.cuda.get_device_name()
        if device.startswith("cuda")
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        from importlib.metadata import version

        info["lm_eval"] = version("lm-eval")
    except Exception:
        info["lm_eval"] = None
    return info


def markdown_row(report: dict[str, Any]) -> str:
    ours, peer = report["cvalues"], report.get("lmeval")
    cells = [
        report["settings"]["n_items"],
        report["machine"]["device"],
        f"{ours['eval_s']:.1f}",
        f"{peer['eval_s']:.1f}" if peer else "-",
        f"{report['ratio']:.2f}x" if peer else "-",
        "yes" if report["goals"]["cvalues_within_seconds"] else "no",
        ("yes" if report["goals"]["ratio_reached"] else "no") if peer else "-",
        f"{report['agreement']['same_argmax']}/{report['agreement']['items']}" if peer else "-",
    ]
    header = (
        "| items | device | cvalues eval (s) | lm-eval eval (s) | ratio | <= 25 s | >= 3x | same argmax |"
    )
    return header + "\n|" + " --- |" * len(cells) + "\n| " + " | ".join(str(c) for c in cells) + " |"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    if args.dry_run:
        apply_dry_run(args)
    if not args.no_peer:
        try:
            import lm_eval  # noqa: F401
        except ImportError:
            raise SystemExit(
                'lm-eval is not installed: pip install "lm-eval>=0.4,<0.5" (or --no-peer)'
            ) from None
    tokenizer_dir = args.tokenizer_dir or smollm2_tokenizer_dir()
    build_s = build_model_dir(args.model_dir, args.shape, tokenizer_dir, args.device, args.dtype)
    items, requests = load_items(args.dataset, args.n)
    print(f"{len(items)} items; model in {args.model_dir} (built in {build_s:.0f} s)", flush=True)
    ours = run_cvalues(args, items, requests)
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "argv": sys.argv[1:] if argv is None else argv,
        "machine": machine(args.device),
        "settings": {
            "dataset": args.dataset,
            "n_items": len(items),
            "shape": args.shape,
            "dtype": args.dtype,
            "device": args.device,
            "batch_size": args.batch_size,
            "batch_tokens": args.batch_tokens,
            "tokenizer": str(tokenizer_dir),
            "model_build_s": round(build_s, 1),
        },
        "cvalues": ours["result"],
    }
    report["goals"] = {"cvalues_within_seconds": ours["result"]["eval_s"] <= GOAL_SECONDS}
    if not args.no_peer:
        peer = run_lmeval(args, ours["prompts"], [tuple(r.choices) for r in requests])
        report["lmeval"] = peer
        report["ratio"] = round(peer["eval_s"] / ours["result"]["eval_s"], 2)
        report["goals"]["ratio_reached"] = report["ratio"] >= GOAL_RATIO
        report["agreement"] = agreement(ours["result"]["answers"], peer["answers"])
    print(markdown_row(report), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
