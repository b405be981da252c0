"""Run the tiny model (``tiny/`` beside this file) on the bundled sample in both modes, in float32
and bfloat16, on DEVICE, and compare with the CPU float32 answers in ``cpu/<mode>/samples.jsonl``.

    python compare_devices.py cuda OUT_DIR       # writes OUT_DIR/gpu_check.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
import transformers

from cvalues.core.backend import ModelSpec
from cvalues.core.requests import GenerationSettings
from cvalues.data.resolve import load_mc_dataset
from cvalues.execute.executor import run_requests
from cvalues.models.registry import create_backend
from cvalues.store import open_store
from cvalues.tasks.mc import build_requests, interpret, load_template

HERE = Path(__file__).resolve().parent


def read_reference(mode: str) -> dict[str, dict[str, Any]]:
    lines = (HERE / "cpu" / mode / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    return {row["id"]: row for row in rows}


def check(backend: Any, mode: str, dtype: str) -> dict[str, Any]:
    items = load_mc_dataset("sample").items
    reference = read_reference(mode)
    requests = build_requests(items, load_template(), mode)
    settings = GenerationSettings(temperature=0.0, max_tokens=32)
    db = Path(f"/tmp/gpucheck-{dtype}-{mode}.db")
    db.unlink(missing_ok=True)
    store = open_store(f"sqlite:///{db}")
    start = time.perf_counter()
    execution = run_requests(requests, backend, settings, store, progress=False)
    wall = time.perf_counter() - start
    store.close()
    same_text = same_pred = same_argmax = 0
    max_diff = 0.0
    for item, response in zip(items, execution.responses, strict=True):
        ref = reference[item.id]
        assert response.error is None, response.error
        same_pred += interpret(item, response)[0] == ref["pred"]
        if mode == "generate":
            same_text += response.text == ref["response"]
        else:
            ours, theirs = response.choice_logprobs, ref["choice_logprobs"]
            same_argmax += max(ours, key=ours.get) == max(theirs, key=theirs.get)
            max_diff = max(max_diff, *(abs(ours[k] - theirs[k]) for k in ours))
    return {
        "items": len(items),
        "sent": execution.n_sent,
        "wall_s": round(wall, 3),
        "items_per_s": round(len(items) / wall, 2),
        "same_pred_as_cpu": same_pred,
        "same_text_as_cpu": same_text if mode == "generate" else None,
        "same_argmax_as_cpu": same_argmax if mode == "logprob" else None,
        "max_abs_logprob_diff": round(max_diff, 4) if mode == "logprob" else None,
    }


def main(device: str, out: Path) -> None:
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    for dtype in ("float32", "bfloat16"):
        spec = ModelSpec.parse(f"hf:{HERE / 'tiny'}", dtype=dtype)
        backend = create_backend(spec, batch_size=16, device=device)
        for mode in ("generate", "logprob"):
            report[f"{dtype}/{mode}"] = check(backend, mode, dtype)
            print(f"{dtype}/{mode}", report[f"{dtype}/{mode}"], flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
