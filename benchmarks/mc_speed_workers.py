"""The measured side of benchmarks/mc_speed.py: one measurement per process, so nothing is warm.

    python benchmarks/mc_speed_workers.py cvalues|lmeval JOB.json RESULT.json

JOB.json (written by mc_speed.py) names the mode, the dataset rows, the chat-templated prompt of
each row, the model folder and the settings. RESULT.json gets the load time, the evaluation time
(wall and CPU) and every answer. Model loading is timed apart from the evaluation.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

CHOICES = ("回复1", "回复2")


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _elapsed(start: tuple[float, float]) -> dict[str, float]:
    wall, cpu = _clocks()
    return {"wall_s": round(wall - start[0], 3), "cpu_s": round(cpu - start[1], 3)}


def run_cvalues(job: dict[str, Any]) -> dict[str, Any]:
    """The `cvalues mc` pipeline: its requests, its executor and store, the transformers backend."""
    import torch

    from cvalues.core.backend import ModelSpec
    from cvalues.core.requests import GenerationSettings
    from cvalues.data.resolve import load_mc_dataset
    from cvalues.execute.executor import run_requests
    from cvalues.models.registry import create_backend
    from cvalues.store import open_store
    from cvalues.tasks.mc import build_requests, interpret, load_template

    dataset = load_mc_dataset(job["dataset"])
    items = [dataset.items[i] for i in job["rows"]]
    requests = build_requests(items, load_template(), job["mode"])
    settings = GenerationSettings(temperature=0.0, max_tokens=job["max_tokens"])
    started = _clocks()
    spec = ModelSpec.parse(job["model"], dtype=job.get("dtype", "auto"))
    backend = create_backend(
        spec, batch_size=job["batch_size"], device="cpu", engine=job.get("engine", "fast")
    )
    load = _elapsed(started)
    # The prompts the backend builds must be the ones lm-eval is given.
    prompts = [backend.prompt_text(r, settings) for r in requests]  # type: ignore[attr-defined]
    store = open_store(os.environ["CVALUES_DB"])
    try:
        started = _clocks()
        execution = run_requests(requests, backend, settings, store, progress=False)
        evaluation = _elapsed(started)
    finally:
        store.close()
    answers = []
    paths: dict[str, int] = {}
    for item, response in zip(items, execution.responses, strict=True):
        for key in ("engine", "choice_path", "dtype"):
            if key in response.extra:
                label = f"{key}={response.extra[key]}"
                paths[label] = paths.get(label, 0) + 1
        pred, rule = interpret(item, response)
        answers.append(
            {"text": response.text, "choice_logprobs": response.choice_logprobs, "pred": pred, "rule": rule}
        )
    return {
        "load": load,
        "eval": evaluation,
        "n_items": len(items),
        "n_computed": execution.n_sent,
        "n_deduplicated": execution.n_deduplicated,
        "n_cached": execution.n_cached,
        "n_failed": execution.n_failed,
        "prompts_match": prompts == job["prompts"],
        "torch_threads": torch.get_num_threads(),
        "paths": paths,
        "answers": answers,
    }


def run_lmeval(job: dict[str, Any]) -> dict[str, Any]:
    """lm-evaluation-harness's HF backend on the same prompt strings, as its tasks would call it."""
    import torch
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    started = _clocks()
    lm = HFLM(
        pretrained=job["model_folder"],
        backend="causal",
        device="cpu",
        dtype=job.get("resolved_dtype", "float32"),
        batch_size=job["batch_size"],
    )
    load = _elapsed(started)
    prompts: list[str] = job["prompts"]
    if job["mode"] == "generate":
        gen_kwargs = {"until": [], "max_gen_toks": job["max_tokens"], "do_sample": False, "temperature": 0.0}
        requests = [
            Instance("generate_until", {}, (prompt, dict(gen_kwargs)), 0, ("cvalues_mc", i, 1))
            for i, prompt in enumerate(prompts)
        ]
        started = _clocks()
        texts = lm.generate_until(requests, disable_tqdm=True)
        evaluation = _elapsed(started)
        answers = [{"text": text} for text in texts]
        n_computed = len(prompts)  # generate_until runs every request, repeats included
    else:
        # A multiple_choice task: one loglikelihood request per (context, choice); the choice
        # follows the chat prompt directly (target_delimiter ""), as in our logprob mode.
        requests = [
            Instance("loglikelihood", {}, (prompt, choice), c, ("cvalues_mc", i, 1))
            for i, prompt in enumerate(prompts)
            for c, choice in enumerate(CHOICES)
        ]
        started = _clocks()
        scores = lm.loglikelihood(requests, disable_tqdm=True)
        evaluation = _elapsed(started)
        answers = []
        for i in range(len(prompts)):
            pair = {choice: scores[2 * i + c][0] for c, choice in enumerate(CHOICES)}
            answers.append({"choice_logprobs": pair, "pred": max(CHOICES, key=lambda c: pair[c])})
        # Requests whose context plus all but the last continuation token agree share one forward
        # pass (logits_cache): repeated prompts, and both choices when they differ in one token.
        n_computed = len(set(prompts))
    return {
        "load": load,
        "eval": evaluation,
        "n_items": len(prompts),
        "n_computed": n_computed,
        "torch_threads": torch.get_num_threads(),
        "answers": answers,
    }


WORKERS = {"cvalues": run_cvalues, "lmeval": run_lmeval}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in WORKERS:
        print(__doc__, file=sys.stderr)
        return 2
    job = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    result = WORKERS[argv[0]](job)
    result["load_average_after"] = os.getloadavg()
    Path(argv[2]).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
