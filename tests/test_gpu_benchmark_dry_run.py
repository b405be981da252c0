"""benchmarks/gpu_path/mc_7b.py in its CPU dry-run mode: a tiny random Qwen2, 8 sample items,
cvalues against lm-eval's HF backend when lm-eval is installed (it is not a cvalues dependency)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_path" / "mc_7b.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_mc_7b", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_7b_shape_is_qwen2_7b() -> None:
    shape = load_script().SHAPES["7b"]
    assert (shape["num_hidden_layers"], shape["hidden_size"], shape["intermediate_size"]) == (28, 3584, 18944)
    assert (shape["num_attention_heads"], shape["num_key_value_heads"], shape["vocab_size"]) == (
        28,
        4,
        152064,
    )


@pytest.mark.model
def test_the_dry_run_scores_every_item_with_both_tools(smollm2_backend, tmp_path: Path) -> None:
    peer = importlib.util.find_spec("lm_eval") is not None
    out = tmp_path / "report.json"
    argv = ["--dry-run", "--tokenizer-dir", smollm2_backend.loaded.source, "--model-dir", str(tmp_path / "m")]
    report = load_script().main([*argv, "--out", str(out), *([] if peer else ["--no-peer"])])
    assert json.loads(out.read_text(encoding="utf-8"))["cvalues"]["eval_s"] == report["cvalues"]["eval_s"]
    assert report["settings"]["n_items"] == 8 and report["settings"]["shape"] == "tiny"
    ours = report["cvalues"]
    assert ours["n_failed"] == 0 and len(ours["answers"]) == 8
    assert ours["paths"]["choice_path=one-pass"] == 8  # 回复1 / 回复2 after the shared "回复"
    assert all(a["pred"] in ("回复1", "回复2") for a in ours["answers"])
    if peer:
        # Same weights, float32: the two tools pick the same reply on every item.
        assert report["agreement"]["same_argmax"] == 8
        assert report["agreement"]["max_abs_margin_diff"] < 1e-3
        assert report["ratio"] > 0
