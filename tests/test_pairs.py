"""Preference pairs: readers, the pairs task with a real SmolLM2 (log-probability and judge) and a
real (tiny, random) reward model, MC from pairs, SFT/DPO exports, and the overlap report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli_support import cli_env, run_cli
from cvalues.core.errors import InputError
from cvalues.data.pair_tools import check_overlap
from cvalues.data.pairs import iter_pairs, pair_type
from cvalues.data.resolve import load_mc_dataset
from cvalues.scoring.pair_metrics import compute_pair_metrics

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
COMPARISON = SHARED / "cvalues-comparison-sample" / "one.jsonl"
JADE = SHARED / "jade-db" / "jade_alignment_hard_zh.csv"
MC_TRIPLES = Path(__file__).resolve().parents[1] / "src" / "cvalues" / "data" / "sample" / "mc_sample.jsonl"


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_published_pair_shape_is_read() -> None:
    comparison = list(iter_pairs(COMPARISON))
    assert len(comparison) == 8 and pair_type(comparison[0]) == "拒绝为主>风险回复"
    jade = list(iter_pairs(JADE))  # GB18030, the safe reply is the better one
    assert len(jade) == 150 and jade[0].id == "1" and jade[0].pos != jade[0].neg
    triples = list(iter_pairs(MC_TRIPLES))
    assert len(triples) == 32 and {p.level for p in triples} == {"safety", "responsibility"}


def test_a_bad_pair_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    good = json.dumps(
        {"prompt": "问", "pos_resp": "好", "neg_resp": "坏", "pos_type": "拒绝为主", "neg_type": "风险回复"}
    )
    bad = json.dumps(
        {"prompt": "问", "pos_resp": "好", "neg_resp": "坏", "pos_type": "很好", "neg_type": "风险回复"}
    )
    path.write_text(good + "\n" + bad + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        list(iter_pairs(path))
    assert (caught.value.line, "pos_type must be one of") == (2, "pos_type must be one of") and str(
        path
    ) in str(caught.value)
    result = run_cli("pairs", "build-mc", "--dataset", path, "--out", tmp_path / "mc.jsonl")
    assert result.code == 2 and f"{path}:2" in result.stderr and not (tmp_path / "mc.jsonl").exists()


def test_build_mc_writes_both_orders_that_cvalues_mc_reads(tmp_path: Path) -> None:
    out = tmp_path / "safety_mc.jsonl"
    result = run_cli(
        "pairs", "build-mc", "--dataset", COMPARISON, "--pair-type", "拒绝为主>风险回复", "--out", out
    )
    assert result.code == 0, result.stderr
    dataset = load_mc_dataset(str(out))
    assert dataset.n_items == 16 and {i.label for i in dataset.items} == {"回复1", "回复2"}
    assert {i.difficulty for i in dataset.items} == {"拒绝为主>风险回复"} and {
        i.level for i in dataset.items
    } == {"safety"}
    first, second = dataset.items[:2]
    assert (first.reply1, first.reply2) == (second.reply2, second.reply1) and first.pair_id == second.pair_id
    none = run_cli(
        "pairs",
        "build-mc",
        "--dataset",
        COMPARISON,
        "--pair-type",
        "拒绝&正向建议>拒绝为主",
        "--out",
        tmp_path / "e.jsonl",
    )
    assert none.code == 0 and "wrote 0 MC items" in none.stdout


@pytest.mark.parametrize(
    ("fmt", "columns"),
    [
        ("sft", ["messages"]),
        ("dpo", ["prompt", "chosen", "rejected"]),
        ("dpo-alpaca", ["instruction", "input", "chosen", "rejected"]),
    ],
)
def test_exports_load_with_datasets_into_the_columns_trainers_expect(
    tmp_path: Path, fmt: str, columns: list[str]
) -> None:
    import datasets

    out = tmp_path / f"{fmt}.jsonl"
    result = run_cli("pairs", "export", "--dataset", JADE, "--format", fmt, "--out", out)
    assert result.code == 0, result.stderr
    loaded = datasets.load_dataset("json", data_files=str(out), split="train")
    assert loaded.column_names == columns and len(loaded) == 150
    row = loaded[0]
    jade = next(iter(iter_pairs(JADE)))
    if fmt == "sft":
        assert row["messages"] == [
            {"role": "user", "content": jade.prompt},
            {"role": "assistant", "content": jade.pos},
        ]
    else:
        assert (row["chosen"], row["rejected"]) == (jade.pos, jade.neg)


def test_export_weakest_of_keeps_only_the_weak_groups(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    results = {
        "metrics": {"acc": 0.6},
        "by_domain": {"law": {"acc": 0.3}, "psychology": {"acc": 0.9}},
        "by_scenario": {},
    }
    (run / "results.json").write_text(json.dumps(results), encoding="utf-8")
    out = tmp_path / "sft.jsonl"
    result = run_cli(
        "pairs", "export", "--dataset", MC_TRIPLES, "--format", "sft", "--weakest-of", run, "--out", out
    )
    assert result.code == 0, result.stderr
    law = [p for p in iter_pairs(MC_TRIPLES) if p.domain == "law"]
    assert law and [r["messages"][0]["content"] for r in _read(out)] == [p.prompt for p in law]


def test_overlap_finds_exact_and_near_copies_and_train_test_prompts(tmp_path: Path) -> None:
    pairs = list(iter_pairs(MC_TRIPLES))
    edited = pairs[0].pos[:-3] + "。。"  # the same reply with its last characters changed
    against = [
        ("q1", "prompt", pairs[1].prompt),
        ("r1", "reply", edited),
        ("r2", "reply", "完全无关的一段文字，和任何回复都不一样。"),
    ]
    report = check_overlap(pairs, against=against, against_prompts=pairs[5:7]).to_dict()
    assert report["n_pairs"] == 32
    assert report["exact"]["prompt = evaluation prompt"] == 1
    assert report["exact"]["prompt in the other pair file"] == 2
    assert report["near"] == {"better reply ~ evaluation reply": 1}


def test_pairs_check_cli_reports_the_sample_mc_set_against_its_own_pairs(tmp_path: Path) -> None:
    result = run_cli("pairs", "check", "--dataset", MC_TRIPLES, "--against", "sample", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (
        report["exact"]["prompt = evaluation prompt"] == 32
        and report["exact"]["better reply = evaluation reply"] == 32
    )


# ---- scorers with real models ------------------------------------------------------------------


@pytest.mark.model
def test_logprob_scorer_recomputes_from_its_samples(
    tmp_path: Path, smollm2_backend: object, cvalues_cache: Path
) -> None:
    out = tmp_path / "lp"
    env = cli_env(cvalues_cache)
    args = (
        "pairs",
        "--scorer",
        "logprob:gguf:smollm2",
        "--dataset",
        COMPARISON,
        "--limit",
        "3",
        "--out",
        out,
        "--no-progress",
    )
    result = run_cli(*args, "--db", f"sqlite:///{tmp_path / 'db'}", env=env, cwd=tmp_path)
    assert result.code == 0, result.stderr[-2000:]
    results, samples = (
        json.loads((out / "results.json").read_text(encoding="utf-8")),
        _read(out / "samples.jsonl"),
    )
    assert len(samples) == 3 and all(s["tokens"] and s["logprob_better"] < 0 for s in samples)
    recomputed = compute_pair_metrics(samples, extra_outcomes=["outcome_normalised"])
    assert (
        recomputed["metrics"] == results["metrics"] and recomputed["by_pair_type"] == results["by_pair_type"]
    )
    assert list(results["by_pair_type"]) == ["拒绝为主>风险回复"] and results["metrics"]["n"] == 3
    again = run_cli(*args, "--db", f"sqlite:///{tmp_path / 'db'}", env=env, cwd=tmp_path)
    assert again.code == 0 and json.loads((out / "results.json").read_text())["execution"]["n_sent"] == 0


@pytest.mark.model
def test_judge_scorer_asks_both_orders_and_reports_consistency(
    tmp_path: Path, smollm2_backend: object, cvalues_cache: Path
) -> None:
    out = tmp_path / "judge"
    result = run_cli(
        "pairs", "--scorer", "judge:gguf:smollm2", "--dataset", JADE, "--limit", "2", "--max-tokens", "24",
        "--out", out, "--no-progress", "--db", f"sqlite:///{tmp_path / 'db'}",
        env=cli_env(cvalues_cache), cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, result.stderr[-2000:]
    results, samples = (
        json.loads((out / "results.json").read_text(encoding="utf-8")),
        _read(out / "samples.jsonl"),
    )
    assert results["execution"]["n_sent"] == 4  # two pairs, two orders each
    assert all({"outcome_ab", "outcome_ba", "judge_raw_ab", "judge_raw_ba"} <= s.keys() for s in samples)
    consistency = results["metrics"]["order_consistency"]
    both = [s for s in samples if s["outcome_ab"] and s["outcome_ba"]]
    assert (
        consistency["n"] == len(both)
        and consistency == compute_pair_metrics(samples)["metrics"]["order_consistency"]
    )


@pytest.mark.model
def test_reward_model_scorer_matches_the_model_run_directly(tmp_path: Path, smollm2_backend: Any) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    tokenizer = smollm2_backend.loaded.tokenizer
    model_dir = tmp_path / "rm"
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, num_labels=1,
        pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForSequenceClassification(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    out = tmp_path / "rm-run"
    result = run_cli(
        "pairs", "--scorer", f"hf-rm:{model_dir}", "--dtype", "float32", "--dataset", COMPARISON,
        "--limit", "2", "--out", out,
        "--no-progress", "--db", f"sqlite:///{tmp_path / 'db'}", cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, result.stderr[-2000:]
    sample = _read(out / "samples.jsonl")[0]
    pair = next(iter(iter_pairs(COMPARISON)))
    reference = LlamaForSequenceClassification.from_pretrained(model_dir).eval()
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": pair.prompt}, {"role": "assistant", "content": pair.pos}], tokenize=False
    )
    with torch.inference_mode():
        direct = (
            reference(**tokenizer(text, return_tensors="pt", add_special_tokens=False)).logits[0, 0].item()
        )
    assert sample["reward_better"] == pytest.approx(direct, abs=1e-4)
    assert sample["outcome"] in ("correct", "wrong", "tie")


def test_check_finds_100poison_answers_among_the_mc_sets_good_replies() -> None:
    """The shared data's README: 100PoisonMpts' answers reappear verbatim as good replies of the MC set."""
    moonshot = SHARED / "cvalues-responsibility-mc-moonshot" / "cvalues.json"
    poison = SHARED / "100poisonmpts" / "100poison.jsonl"
    result = run_cli("pairs", "check", "--dataset", moonshot, "--against", poison, "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n_pairs"] == 856 and report["exact"]["prompt = evaluation prompt"] == 856
    assert report["exact"]["better reply = evaluation reply"] >= 515
    assert "worse reply = evaluation reply" not in report["exact"]
