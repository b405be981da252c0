"""`cvalues generate` and `cvalues judge` end to end with the real SmolLM2 on CPU, as generator and judge.

SmolLM2 (135M) is a poor judge: these tests check the pipeline and the accounting (every judgment is
parsed or counted unparsed, the numbers recompute from samples.jsonl, judging again sends nothing),
never its wisdom. Judge prompts are long (~1,300 tokens), so only a few replies are judged per rubric.
Safety prompts are harmful by design: the tests compare counts and fields, and never print them.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli_support import cli_env, read_samples, run_cli
from cvalues.core.requests import GenerationSettings
from cvalues.data.prompt_sets import load_prompt_dataset
from cvalues.scoring.reply_metrics import compute_generate_metrics, compute_judge_metrics
from cvalues.scoring.rubrics import load_rubric
from cvalues.store import Store, open_store
from cvalues.tasks.generate_task import GenerateTask
from cvalues.tasks.judge import judge_settings
from cvalues.tasks.judge_inputs import load_run_input
from cvalues.tasks.judge_task import JudgeTask
from cvalues.tasks.run import RunOptions, run_task
from data_support import JADE_HARD_FILE, SHARED_DATA

pytestmark = pytest.mark.model

QUIET = ("--no-progress", "--batch-size", "8")
# (file under shared/data, items taken): a reply with a reference and one with a history come first,
# so that `--limit 2` on a judge run still shows the judge both.
SLICES = (
    ("100poisonmpts/100poison.jsonl", 1),
    ("chisafetybench/risky_questions_with_dialog_history.json", 1),
    ("cvalues-responsibility-prompts/cvalues_responsibility_prompts.jsonl", 2),
    ("chisafetybench/risky_questions_without_dialog_history.json", 1),
    ("jade-db/jade_benchmark_zh.csv", 1),
    ("jade-db/jade_alignment_hard_zh.csv", 1),
    ("xsafety-zh", 2),
    ("flames/Flames_1k_Chinese.jsonl", 1),
    ("should-answer-zh", 2),
)


def _combined_file(path: Path) -> int:
    """Small slices of every shared prompt set (and the bundled should-answer set) as one user file."""
    rows: list[dict[str, Any]] = []
    for source, count in SLICES:
        dataset = load_prompt_dataset(source if source == "should-answer-zh" else str(SHARED_DATA / source))
        for item in dataset.items[:count]:
            rows.append(
                {
                    "id": f"{dataset.format}-{item.id}",
                    "prompt": item.prompt,
                    "level": item.level,
                    "domain": item.domain,
                    "scenario": item.scenario,
                    "should_answer": item.should_answer,
                    "reference": list(item.references),
                    "history": [{"role": role, "content": content} for role, content in item.history],
                }
            )
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(rows)


@pytest.fixture(scope="module")
def env(smollm2_backend: Any, cvalues_cache: Path) -> dict[str, str]:
    return cli_env(cvalues_cache)  # smollm2_backend has converted the GGUF into cvalues_cache


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("generate-judge")


def _db(base: Path) -> str:
    return f"sqlite:///{base / 'store.db'}"


def _results(out: Path) -> dict[str, Any]:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def generated(base: Path, env: dict[str, str]) -> tuple[Path, int]:
    prompts = base / "prompts.jsonl"
    n_items = _combined_file(prompts)
    out = base / "gen"
    result = run_cli(
        "generate", "--model", "gguf:smollm2", "--dataset", prompts, "--out", out, "--db", _db(base),
        "--max-tokens", "16", *QUIET, env=env,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    return out, n_items


def _judge(
    base: Path, env: dict[str, str], run: Path | None, rubric: str, out: str, *extra: str | Path
) -> Path:
    """``cvalues judge RUN --rubric RUBRIC`` (``run`` None: the source is in ``extra``)."""
    target = base / out
    result = run_cli(
        "judge", *([run] if run else []), "--judge", "gguf:smollm2", "--rubric", rubric, "--out", target,
        "--db", _db(base), "--max-tokens", "24", *QUIET, *extra, env=env,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    return target


@pytest.fixture(scope="module")
def store(base: Path) -> Iterator[Store]:
    """A store for the runs made in-process with the loaded model (the CLI runs use their own)."""
    opened = open_store(f"sqlite:///{base / 'in-process.db'}")
    yield opened
    opened.close()


def _judge_here(
    backend: Any, store: Store, run: Path, rubric: str, out: Path, *, k: int = 1, limit: int, max_tokens: int
) -> Path:
    """The judge run of `cvalues judge`, in this process with the already loaded model (no start-up)."""
    settings = judge_settings(k=k, temperature=None, max_tokens=max_tokens, top_p=None, seed=None)
    task = JudgeTask(
        judge=backend.spec,
        rubric=load_rubric(rubric),
        source=load_run_input(run),
        settings=settings,
        judge_samples=k,
        limit=limit,
    )
    run_task(task, RunOptions(out_dir=out, progress=False), store, backend=backend)
    return out


def _assert_accounting(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every judgment is parsed or counted unparsed, and the metrics recompute from samples.jsonl."""
    results, samples = _results(out), read_samples(out)
    m = results["metrics"]
    assert m["n_replies"] == len(samples)
    assert m["n_failed"] == sum(s["error"] is not None for s in samples) == 0
    parsed = [s for s in samples if s["parsed"]]
    assert m["n_parsed"] == len(parsed)
    assert m["unparsed"]["count"] == len(samples) - len(parsed)
    assert m["unparsed"]["n"] == m["n_judged"] == len(samples)
    for sample in samples:
        assert len(sample["judge_raw"]) >= 1
        if sample["parsed"]:
            assert sample["problem"] is None
        else:  # an unparsed judgment carries no verdict and says why
            assert sample["label"] is None and sample["score"] is None and sample["problem"]
    recomputed = compute_judge_metrics(
        samples,
        output_kind=results["rubric"]["output"],
        score_range=tuple(results["rubric"]["score_range"] or (1, 10)),
    )
    for key in ("metrics", "by_level", "by_domain", "by_scenario"):
        assert results[key] == recomputed[key], key
    return results, samples


def test_generate_covers_every_prompt_set_and_recomputes(generated: tuple[Path, int]) -> None:
    out, n_items = generated
    results, samples = _results(out), read_samples(out)
    assert results["task"] == "generate"
    assert results["dataset"]["n_items"] == n_items == len(samples)
    assert results["model"]["settings"]["max_tokens"] == 16
    assert all(isinstance(s["response"], str) and s["error"] is None for s in samples)
    assert Counter(s["level"] for s in samples) == {"responsibility": 3, "safety": 9}
    # A multi-turn prompt is sent after its history, every turn of it.
    with_history = [s for s in samples if s["history"]]
    assert len(with_history) == 1
    for sample in with_history:
        assert [[m["role"], m["content"]] for m in sample["messages"][:-1]] == sample["history"]
        assert sample["messages"][-1] == {"role": "user", "content": sample["prompt"]}
    assert sum(bool(s["references"]) for s in samples) == 2  # 100PoisonMpts, JADE alignment
    assert {s["should_answer"] for s in samples} == {True, False, None}
    recomputed = compute_generate_metrics(samples)
    for key in ("metrics", "by_level", "by_domain", "by_scenario"):
        assert results[key] == recomputed[key], key
    m = results["metrics"]
    assert m["refusal_rate"]["count"] == sum(s["refusal"] for s in samples)
    assert m["over_refusal_rate"]["n"] == sum(s["should_answer"] is True for s in samples) == 2


def test_safety_judge_then_judging_again_sends_nothing(
    base: Path, env: dict[str, str], generated: tuple[Path, int]
) -> None:
    out = _judge(base, env, generated[0], "safety", "judge-safety", "--limit", "2")
    results, samples = _assert_accounting(out)
    assert len(samples) == 2 and results["execution"]["n_sent"] == 2
    assert results["rubric"]["name"] == "safety" and len(results["rubric"]["sha256"]) == 64
    assert results["judge"]["spec"] == "gguf:smollm2" and results["generator"]["spec"] == "gguf:smollm2"
    labelled = [s for s in samples if s["label"] in ("safe", "unsafe")]
    assert results["metrics"]["safety_score"]["n"] == len(labelled)
    assert results["metrics"]["safety_score"]["count"] == sum(s["label"] == "safe" for s in labelled)
    # The judgments are in the store, one per reply, unparsed ones included.
    with sqlite3.connect(base / "store.db") as conn:
        rows = conn.execute(
            "SELECT item_key, parsed, rubric FROM judgments WHERE run_id = ?", (results["run_id"],)
        ).fetchall()
    assert sorted((key, bool(parsed)) for key, parsed, _ in rows) == sorted(
        (s["id"], s["parsed"]) for s in samples
    )

    again = _judge(base, env, generated[0], "safety", "judge-safety", "--limit", "2")
    repeat = _results(again)
    assert repeat["execution"]["n_sent"] == 0 and repeat["execution"]["n_cached"] == 2
    assert repeat["run_id"] == results["run_id"] and repeat["metrics"] == results["metrics"]


def test_responsibility_judge_with_reference_and_history(
    smollm2_backend: Any, store: Store, base: Path, generated: tuple[Path, int]
) -> None:
    out = _judge_here(
        smollm2_backend, store, generated[0], "responsibility", base / "judge-resp", limit=2, max_tokens=24
    )
    results, samples = _assert_accounting(out)
    score = results["metrics"]["responsibility_score"]
    scored = [s["score"] for s in samples if s["parsed"]]
    assert score["n"] == len(scored)
    assert score["value"] == (sum(scored) / len(scored) if scored else None)
    assert sum(score["distribution"].values()) == len(scored) and list(score["distribution"]) == [
        str(n) for n in range(1, 11)
    ]
    assert results["metrics"]["safety_score"] is None
    assert [s["reference_used"] for s in samples] == [True, False]  # a 100PoisonMpts expert answer
    assert samples[1]["history"]  # the first CHiSafetyBench multi-turn prompt


def test_guard_format_from_a_model_that_is_no_guard_is_counted_unparsed(
    smollm2_backend: Any, store: Store, base: Path, generated: tuple[Path, int]
) -> None:
    out = _judge_here(
        smollm2_backend, store, generated[0], "guard-qwen3", base / "judge-guard", limit=6, max_tokens=10
    )
    results, samples = _assert_accounting(out)
    assert len(samples) == 6 and samples[1]["history"]
    m = results["metrics"]
    # Without a parsed "Refusal:" field the rules decide, and the record says so.
    assert m["refusal_sources"].get("rules", 0) == sum(s["refusal_source"] == "rules" for s in samples)
    assert m["unparsed"]["count"] + m["safety_score"]["n"] == len(samples)


def test_judge_samples_three_takes_the_majority(
    base: Path, env: dict[str, str], generated: tuple[Path, int]
) -> None:
    out = _judge(
        base, env, generated[0], "guard-qwen3", "judge-k3", "--judge-samples", "3", "--limit", "2",
        "--max-tokens", "10",
    )  # fmt: skip
    results, samples = _assert_accounting(out)
    assert results["judge"]["judge_samples"] == 3 and results["judge"]["sample_seeds"] == [0, 1, 2]
    assert results["judge"]["settings"]["temperature"] == 0.7
    assert results["execution"]["n_requests"] == 6
    for sample in samples:
        assert len(sample["judge_raw"]) == 3 == len(sample["judge_samples"])
        votes = Counter(v["label"] for v in sample["judge_samples"] if v["parsed"])
        if sample["parsed"]:
            assert votes[sample["label"]] == max(votes.values())


def test_pairwise_against_a_second_run_asks_both_orders(
    base: Path, env: dict[str, str], generated: tuple[Path, int]
) -> None:
    prompts, second = base / "prompts.jsonl", base / "gen2"
    result = run_cli(
        "generate", "--model", "gguf:smollm2", "--dataset", prompts, "--out", second, "--db", _db(base),
        "--limit", "1", "--samples", "2", "--temperature", "0.8", "--seed", "5", "--max-tokens", "12", *QUIET,
        env=env,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    gen2 = read_samples(second)
    assert [(s["id"], s["sample"], s["seed"]) for s in gen2][:2] == [
        (gen2[0]["id"], 0, 5),
        (gen2[0]["id"], 1, 6),
    ]
    assert len(gen2) == len({s["request_hash"] for s in gen2}) == 2

    out = _judge(base, env, generated[0], "pairwise", "judge-pair", "--against", second)
    results, samples = _assert_accounting(out)
    assert results["input"]["kind"] == "pair" and results["input"]["n_unmatched"] == generated[1] - 1 + 1
    assert sorted((s["id"], s["variant"]) for s in samples) == sorted(
        (s["id"], order) for s in gen2 if s["sample"] == 0 for order in ("ab", "ba")
    )
    pairwise = results["metrics"]["pairwise"]
    parsed = [s for s in samples if s["parsed"]]
    assert pairwise["first_better"]["n"] == len(parsed)
    by_pair: dict[str, dict[str, str]] = {}
    for s in parsed:
        by_pair.setdefault(s["id"], {})[s["variant"]] = s["winner"]
    both = [v for v in by_pair.values() if len(v) == 2]
    assert pairwise["consistency"]["n"] == len(both)
    assert pairwise["consistency"]["count"] == sum(v["ab"] == v["ba"] for v in both)


def test_a_file_of_human_labelled_replies_is_judged_and_recomputes(
    base: Path, env: dict[str, str], generated: tuple[Path, int]
) -> None:
    import csv

    rows: list[dict[str, Any]] = []
    with JADE_HARD_FILE.open(encoding="gb18030", newline="") as handle:
        for n, row in enumerate(csv.DictReader(handle)):
            if n == 1:
                break
            rows.append(
                {
                    "id": f"{n}-unsafe",
                    "prompt": row["问题"],
                    "response": row["违规回答"],
                    "human_label": "unsafe",
                }
            )
            rows.append(
                {
                    "id": f"{n}-safe",
                    "prompt": row["问题"],
                    "response": row["安全有用回答"],
                    "human_label": "safe",
                }
            )
    hidden = base / "hidden.jsonl"
    hidden.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = _judge(base, env, None, "safety", "judge-hidden", "--responses", hidden)
    results, samples = _assert_accounting(out)
    assert results["input"]["kind"] == "responses" and results["dataset"]["n_items"] == 2
    assert [(s["id"], s["human_label"]) for s in samples] == [(r["id"], r["human_label"]) for r in rows]
    assert [s["response"] for s in samples] == [r["response"] for r in rows]
    m = results["metrics"]
    assert m["safety_score"]["count"] == sum(s["label"] == "safe" for s in samples)
    assert m["safety_score"]["n"] + m["unparsed"]["count"] == 2


FORMATS = (
    ("cvalues-responsibility-prompts/cvalues_responsibility_prompts.jsonl", "cvalues-prompts"),
    ("100poisonmpts/100poison.jsonl", "100poison"),
    ("jade-db/jade_benchmark_zh.csv", "jade-benchmark"),
    ("jade-db/jade_alignment_medium_zh.csv", "jade-alignment"),
    ("xsafety-zh", "xsafety"),
    ("flames/Flames_1k_Chinese.jsonl", "flames"),
    ("chisafetybench/risky_questions_without_dialog_history.json", "chisafety"),
    ("chisafetybench/risky_questions_with_dialog_history.json", "chisafety-history"),
)


def test_every_published_format_generates_as_its_authors_ship_it(
    smollm2_backend: Any, store: Store, base: Path
) -> None:
    for relative, fmt in FORMATS:
        dataset = load_prompt_dataset(str(SHARED_DATA / relative))
        out = base / f"format-{fmt}"
        task = GenerateTask(
            spec=smollm2_backend.spec, dataset=dataset, settings=GenerationSettings(max_tokens=6), limit=2
        )
        results = run_task(
            task, RunOptions(out_dir=out, progress=False), store, backend=smollm2_backend
        ).to_json()
        samples = read_samples(out)
        assert results["dataset"]["format"] == fmt and results["dataset"]["sha256"] == dataset.sha256, fmt
        assert results["dataset"]["n_items_in_dataset"] == dataset.n_items and len(samples) == 2, fmt
        assert all(isinstance(s["response"], str) for s in samples), fmt
        assert [(s["level"], s["domain"], s["scenario"]) for s in samples] == [
            (item.level, item.domain, item.scenario) for item in dataset.items[:2]
        ], fmt
        assert len(samples[0]["messages"]) == len(dataset.items[0].history) + 1, fmt
