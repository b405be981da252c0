"""MC speed: `cvalues mc` against lm-evaluation-harness's HF backend, same items, same weights.

Six measurements, each in a fresh process (nothing warm, nothing cached), on the first N items
of the CValues responsibility MC set:

    (a) cvalues generate, --engine fast and --engine plain   (b) lm-eval generate_until
    (c) cvalues logprob, --engine fast and --engine plain    (d) lm-eval loglikelihood of "回复1" / "回复2"

``--engine plain`` is plain transformers (``generate``, one padded forward pass): the fast path
must keep paying against it to stay. ``--dtype auto`` (the default) is what ``cvalues`` picks
on this machine (bfloat16 on a CPU with native bfloat16, else float32); lm-eval gets the same
precision. ``--float32-reference`` names an earlier report in float32 on the same rows, against
which the answers' agreement is measured (what bfloat16 costs in accuracy).

Both sides get the same chat-templated prompt string (the tokenizer's chat template, as our
backend builds it), greedy decoding, the same max new tokens and batch size, and the same
weights: the transformers folder our backend converts the GGUF into, which lm-eval loads with
``pretrained=<folder>``. Items/s counts the evaluation only; model load is reported apart.

    pip install "lm-eval>=0.4,<0.5"        # the peer; not a cvalues dependency
    python benchmarks/mc_speed.py           # N=64, --max-tokens 64, --batch-size 8
    python benchmarks/mc_speed.py --n 32 --modes logprob --distinct

Writes benchmarks/results/mc_speed-<date>.json and appends a section to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKERS = HERE / "mc_speed_workers.py"
RESULTS_MD = HERE / "RESULTS.md"
DEFAULT_DATASET = REPO.parent / "shared" / "data" / "cvalues-responsibility-mc-moonshot" / "cvalues.json"
TOOLS = {"cvalues": "cvalues", "cvalues-plain": "cvalues --engine plain", "lmeval": "lm-eval HF"}
CHOICES = ("回复1", "回复2")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=64, help="items: the first N rows of the dataset")
    parser.add_argument("--max-tokens", type=int, default=64, help="max new tokens (generate mode)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--model", default="gguf:smollm2", help="a gguf: or hf: model spec")
    parser.add_argument("--modes", default="generate,logprob", help="comma-separated: generate, logprob")
    parser.add_argument(
        "--distinct", action="store_true", help="skip rows whose prompt repeats an earlier one (same work)"
    )
    parser.add_argument("--dtype", default="auto", help="cvalues --dtype; lm-eval gets what it resolves to")
    parser.add_argument("--engines", default="fast,plain", help="cvalues --engine values to measure")
    parser.add_argument("--float32-reference", type=Path, default=None, help="an earlier float32 report")
    parser.add_argument("--out-dir", type=Path, default=HERE / "results")
    parser.add_argument("--no-record", action="store_true", help="print only; write no files")
    return parser


def machine_info() -> dict[str, Any]:
    import torch
    import transformers

    info: dict[str, Any] = {
        "cpu_model": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "transformers": transformers.__version__,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        info["cpu_model"] = next(
            line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")
        )
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    try:
        meminfo = Path("/proc/meminfo").read_text()
        kib = int(next(line.split()[1] for line in meminfo.splitlines() if line.startswith("MemTotal")))
        info["ram_gib"] = round(kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    try:
        from importlib.metadata import version

        info["lm_eval"] = version("lm-eval")
    except Exception:
        info["lm_eval"] = None
    return info


def model_folder(model: str) -> tuple[Path, Path]:
    """The transformers folder both sides load, and the GGUF cache root it sits in (converted
    once, before any timing, if it is not there yet)."""
    from cvalues.core.backend import ModelSpec
    from cvalues.models.smollm2 import resolve_gguf_path
    from cvalues.models.transformers.loading import default_cache_root, gguf_cache_dir, load_local_model

    spec = ModelSpec.parse(model)
    if spec.provider == "hf":
        return Path(spec.name), default_cache_root()
    folder = gguf_cache_dir(resolve_gguf_path(spec.name), default_cache_root())
    if not folder.is_dir():
        print(f"converting {spec.name} once into {folder} ...", flush=True)
        load_local_model(spec, device="cpu")
    return folder, default_cache_root()


def select_rows(dataset_path: Path, n: int, distinct: bool, folder: Path) -> tuple[list[int], list[str]]:
    """Row indices and the chat-templated prompt of each, built as our backend builds it."""
    from transformers import AutoTokenizer

    from cvalues.data.resolve import load_mc_dataset
    from cvalues.tasks.mc import load_template, prompt_for

    dataset = load_mc_dataset(str(dataset_path))
    template = load_template()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    rows: list[int] = []
    prompts: list[str] = []
    for index, item in enumerate(dataset.items):
        if len(rows) == n:
            break
        messages = [{"role": "user", "content": prompt_for(item, template)}]
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        if distinct and prompt in prompts:
            continue
        rows.append(index)
        prompts.append(prompt)
    return rows, prompts


def resolved_dtype(dtype: str) -> str:
    import torch

    from cvalues.models.transformers.loading import resolve_dtype

    return str(resolve_dtype(dtype, torch.device("cpu"))).removeprefix("torch.")


def _float32_reference(
    path: Path | None, rows: list[int], max_tokens: int
) -> dict[str, list[dict[str, Any]]] | None:
    """The cvalues answers per mode of an earlier float32 report on the same rows (generate mode
    only when it allowed as many new tokens)."""
    if path is None:
        return None
    earlier = json.loads(path.read_text(encoding="utf-8"))
    position = {row: i for i, row in enumerate(earlier["settings"]["rows"])}
    if (
        any(row not in position for row in rows)
        or earlier["settings"].get("resolved_dtype", "float32") != "float32"
    ):
        raise SystemExit(f"{path}: not a float32 report covering these rows")
    same_length = earlier["settings"]["max_tokens"] == max_tokens
    return {
        mode: [entry["cvalues"]["answers"][position[row]] for row in rows]
        for mode, entry in earlier["modes"].items()
        if mode == "logprob" or same_length
    }


def run_worker(
    tool: str, job: dict[str, Any], workdir: Path, cache_root: Path, tag: str | None = None
) -> dict[str, Any]:
    """One measurement in a fresh process, with an empty request store and a private cache root."""
    tag = f"{tag or tool}-{job['mode']}"
    run_dir = workdir / tag
    cache = run_dir / "cache"
    (cache / "gguf").mkdir(parents=True)
    # The converted model is shared (read only); nothing else of the user's cache is visible.
    for entry in (cache_root / "gguf").iterdir():
        if entry.is_dir() and not entry.name.startswith("."):
            (cache / "gguf" / entry.name).symlink_to(entry, target_is_directory=True)
    job_file, result_file = run_dir / "job.json", run_dir / "result.json"
    job_file.write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    env = {
        **os.environ,
        "CVALUES_CACHE": str(cache),
        "CVALUES_DB": f"sqlite:///{run_dir / 'requests.db'}",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    print(f"[{tag}] running (load average {os.getloadavg()[0]:.2f}) ...", flush=True)
    done = subprocess.run([sys.executable, str(WORKERS), tool, str(job_file), str(result_file)], env=env)
    if done.returncode != 0:
        raise SystemExit(f"{tag} failed with exit code {done.returncode}")
    result = json.loads(result_file.read_text(encoding="utf-8"))
    result["load_average_before"] = job["load_average_before"]
    print(f"[{tag}] {result['eval']['wall_s']} s for {result['n_items']} items", flush=True)
    return result


def agreement(mode: str, ours: list[dict[str, Any]], peer: list[dict[str, Any]]) -> dict[str, Any]:
    from cvalues.scoring.mc_parser import parse_mc_answer

    pairs = list(zip(ours, peer, strict=True))
    if mode == "generate":
        return {
            "items": len(pairs),
            "same_text": sum(a["text"] == b["text"] for a, b in pairs),
            "same_parsed_answer": sum(
                parse_mc_answer(a["text"] or "").label == parse_mc_answer(b["text"]).label for a, b in pairs
            ),
            "differing_items": [i for i, (a, b) in enumerate(pairs) if a["text"] != b["text"]],
        }

    def margin(answer: dict[str, Any]) -> float:
        first, second = (answer["choice_logprobs"][c] for c in CHOICES)
        return first - second

    return {
        "items": len(pairs),
        "same_argmax": sum(a["pred"] == b["pred"] for a, b in pairs),
        # lm-eval moves the prompt's trailing newline into the continuation, so its log-probs
        # include log P("\n"), the same for both choices; the margin between them cancels it.
        "max_abs_logprob_diff": max(
            abs(a["choice_logprobs"][c] - b["choice_logprobs"][c]) for a, b in pairs for c in CHOICES
        ),
        "max_abs_margin_diff": max(abs(margin(a) - margin(b)) for a, b in pairs),
    }


def summarise(mode: str, ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    def rate(result: dict[str, Any], count: str) -> float:
        return result[count] / result["eval"]["wall_s"]

    return {
        "cvalues_items_per_s": round(rate(ours, "n_items"), 3),
        "lmeval_items_per_s": round(rate(peer, "n_items"), 3),
        "ratio": round(rate(ours, "n_items") / rate(peer, "n_items"), 2),
        # Per prompt actually computed: our executor sends a repeated request once; lm-eval's
        # generate_until runs every repeat, its loglikelihood shares repeats too.
        "ratio_same_work": round(rate(ours, "n_computed") / rate(peer, "n_computed"), 2),
        "ratio_cpu_time": round(peer["eval"]["cpu_s"] / ours["eval"]["cpu_s"], 2),
        "agreement": agreement(mode, ours["answers"], peer["answers"]),
    }


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _agreement_text(mode: str, a: dict[str, Any]) -> str:
    n = a["items"]
    if mode == "generate":
        return f"same text {a['same_text']}/{n}, same parsed answer {a['same_parsed_answer']}/{n}"
    return (
        f"same argmax {a['same_argmax']}/{n}; max abs diff: log-prob {a['max_abs_logprob_diff']:.1e}, "
        f"margin {a['max_abs_margin_diff']:.1e}"
    )


def markdown(report: dict[str, Any]) -> str:
    machine, settings = report["machine"], report["settings"]
    lines = [
        f"## MC speed vs lm-evaluation-harness ({report['date']})",
        "",
        f"`python benchmarks/mc_speed.py{''.join(' ' + a for a in report['argv'])}` — "
        f"{settings['n_items']} items ({settings['n_distinct_prompts']} distinct prompts) of "
        f"`{settings['dataset_name']}`, {settings['model']} "
        f"({settings.get('resolved_dtype', 'float32')}, CPU), greedy, "
        f"max {settings['max_tokens']} new tokens, batch size {settings['batch_size']}.",
        f"Machine: {machine['cpu_model']}, {machine['cores']} cores, {machine.get('ram_gib')} GiB RAM; "
        f"Python {machine['python']}, torch {machine['torch']} ({machine['torch_threads']} threads), "
        f"transformers {machine['transformers']}, lm-eval {machine['lm_eval']}. Load average at start "
        f"{machine['load_average_at_start']}, at end {machine.get('load_average_at_end')} "
        "(other jobs may share these cores).",
        "",
        _row(
            [
                "mode",
                "tool",
                "items",
                "computed",
                "load (s)",
                "eval wall (s)",
                "eval CPU (s)",
                "items/s",
                "load avg before → after",
            ]
        ),
        _row(["---"] * 9),
    ]
    for mode, entry in report["modes"].items():
        for tool in [t for t in TOOLS if t in entry]:
            r = entry[tool]
            lines.append(
                _row(
                    [
                        mode,
                        TOOLS[tool],
                        r["n_items"],
                        r["n_computed"],
                        f"{r['load']['wall_s']:.1f}",
                        f"{r['eval']['wall_s']:.1f}",
                        f"{r['eval']['cpu_s']:.1f}",
                        f"{r['n_items'] / r['eval']['wall_s']:.3f}",
                        f"{r['load_average_before'][0]:.2f} → {r['load_average_after'][0]:.2f}",
                    ]
                )
            )
    lines += ["", _row(["mode", "ratio (items/s)", "same work", "CPU time", "agreement"]), _row(["---"] * 5)]
    for mode, entry in report["modes"].items():
        s = entry["summary"]
        lines.append(
            _row(
                [
                    mode,
                    f"{s['ratio']:.2f}×",
                    f"{s['ratio_same_work']:.2f}×",
                    f"{s['ratio_cpu_time']:.2f}×",
                    _agreement_text(mode, s["agreement"]),
                ]
            )
        )
    extra_rows = []
    for mode, entry in report["modes"].items():
        if "engine_summary" in entry:
            e = entry["engine_summary"]
            extra_rows.append(
                [
                    mode,
                    "fast ÷ plain engine",
                    f"{e['ratio']:.2f}×",
                    f"{e['ratio_cpu_time']:.2f}×",
                    _agreement_text(mode, e["agreement"]),
                ]
            )
        if "float32_agreement" in entry:
            extra_rows.append(
                [
                    mode,
                    f"{settings.get('resolved_dtype')} vs float32 reference",
                    "",
                    "",
                    _agreement_text(mode, entry["float32_agreement"]),
                ]
            )
    if extra_rows:
        lines += [
            "",
            _row(["mode", "comparison", "ratio (items/s)", "CPU time", "agreement"]),
            _row(["---"] * 5),
        ]
        lines += [_row(r) for r in extra_rows]
    lines += [
        "",
        "Ratio: cvalues items/s ÷ lm-eval items/s, evaluation only (model load excluded). Same work: "
        "each side's rate per prompt it computed (our executor sends a repeated request once; lm-eval's "
        "generate_until runs every repeat, its loglikelihood shares them too). CPU time: lm-eval's "
        "process CPU seconds ÷ ours, less sensitive to other jobs on the machine.",
        "",
    ]
    return "\n".join(lines)


def output_path(out_dir: Path, date: str) -> Path:
    path = out_dir / f"mc_speed-{date}.json"
    counter = 2
    while path.exists():
        path = out_dir / f"mc_speed-{date}-{counter}.json"
        counter += 1
    return path


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("generate", "logprob") for m in modes):
        raise SystemExit("--modes takes generate and/or logprob")
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        raise SystemExit('lm-eval is not installed: pip install "lm-eval>=0.4,<0.5"') from None
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if "fast" not in engines or any(e not in ("fast", "plain") for e in engines):
        raise SystemExit("--engines takes fast and optionally plain")
    machine = machine_info()
    folder, cache_root = model_folder(args.model)
    rows, prompts = select_rows(args.dataset, args.n, args.distinct, folder)
    settings = {
        "model": args.model,
        "model_folder": str(folder),
        "dataset": str(args.dataset),
        "dataset_name": args.dataset.name,
        "rows": rows,
        "n_items": len(rows),
        "n_distinct_prompts": len(set(prompts)),
        "distinct": args.distinct,
        "max_tokens": args.max_tokens,
        "batch_size": args.batch_size,
        "dtype": args.dtype,
        "resolved_dtype": resolved_dtype(args.dtype),
    }
    reference = _float32_reference(args.float32_reference, rows, args.max_tokens)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "argv": sys.argv[1:] if argv is None else argv,
        "machine": machine,
        "settings": settings,
        "modes": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="mc-speed-"))
    try:
        for mode in modes:
            results = {}
            tools = ["cvalues", *(["cvalues-plain"] if "plain" in engines else []), "lmeval"]
            for tool in tools:
                engine = "plain" if tool == "cvalues-plain" else "fast"
                job = {
                    **settings,
                    "mode": mode,
                    "engine": engine,
                    "prompts": prompts,
                    "load_average_before": os.getloadavg(),
                }
                results[tool] = run_worker(tool.split("-")[0], job, workdir, cache_root, tag=tool)
            if not results["cvalues"]["prompts_match"]:
                raise SystemExit("our backend built other prompts than the ones given to lm-eval")
            results["summary"] = summarise(mode, results["cvalues"], results["lmeval"])
            if "cvalues-plain" in results:
                results["engine_summary"] = summarise(mode, results["cvalues"], results["cvalues-plain"])
            if reference and mode in reference:
                results["float32_agreement"] = agreement(mode, results["cvalues"]["answers"], reference[mode])
            report["modes"][mode] = results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = markdown(report)
    print("\n" + text)
    if not args.no_record:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        path = output_path(args.out_dir, datetime.now(UTC).strftime("%Y-%m-%d"))
        path.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        with RESULTS_MD.open("a", encoding="utf-8") as handle:
            handle.write("\n" + text)
        print(f"wrote {path} and appended to {RESULTS_MD}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
