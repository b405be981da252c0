"""GPU check of the transformers backend: the tiny random model on the bundled sample, both modes,
float32 and bfloat16, compared with the CPU float32 answers in .gpucheck/cpu."""
import json, os, sys, time
from pathlib import Path
import torch
from cvalues.data.resolve import load_mc_dataset
from cvalues.execute.executor import run_requests
from cvalues.execute.requests import GenerationSettings
from cvalues.models.base import ModelSpec
from cvalues.models.registry import create_backend
from cvalues.store import open_store
from cvalues.tasks.mc import build_requests, interpret, load_template

device, out = sys.argv[1], Path(sys.argv[2])
here = Path(__file__).resolve().parent
items = load_mc_dataset("sample").items
report = {"device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
          "torch": torch.__version__}
import transformers
report["transformers"] = transformers.__version__
for dtype in ("float32", "bfloat16"):
    backend = create_backend(ModelSpec.parse(f"hf:{here / 'tiny'}"), batch_size=16, device=device, dtype=dtype)
    for mode in ("generate", "logprob"):
        reference = {json.loads(l)["id"]: json.loads(l) for l in (here / "cpu" / mode / "samples.jsonl").open()}
        requests = build_requests(items, load_template(), mode)
        settings = GenerationSettings(temperature=0.0, max_tokens=32)
        db = Path(f"/tmp/gpucheck-{dtype}-{mode}.db"); db.unlink(missing_ok=True)
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
            pred, _ = interpret(item, response)
            same_pred += pred == ref["pred"]
            if mode == "generate":
                same_text += response.text == ref["response"]
            else:
                lp = response.choice_logprobs
                rl = ref["choice_logprobs"]
                same_argmax += max(lp, key=lp.get) == max(rl, key=rl.get)
                max_diff = max(max_diff, *(abs(lp[k] - rl[k]) for k in lp))
        key = f"{dtype}/{mode}"
        report[key] = {"items": len(items), "sent": execution.n_sent, "wall_s": round(wall, 3),
                       "items_per_s": round(len(items) / wall, 2), "same_pred_as_cpu": same_pred,
                       "same_text_as_cpu": same_text if mode == "generate" else None,
                       "same_argmax_as_cpu": same_argmax if mode == "logprob" else None,
                       "max_abs_logprob_diff": round(max_diff, 4) if mode == "logprob" else None}
        print(key, report[key], flush=True)
out.mkdir(parents=True, exist_ok=True)
(out / "gpu_check.json").write_text(json.dumps(report, indent=2))
