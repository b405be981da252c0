"""The built-in `cvalues` suite end to end, offline: every dataset it names comes from
CVALUES_DATA_DIR (CValues-Comparison in ModelScope's file names, the authors' prompts, the
responsibility MC set), every task runs on the run core, and the paper's row is filled."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

import cvalues
from cvalues.core.backend import ModelSpec
from cvalues.core.registry import BACKENDS
from cvalues.core.requests import GenerationSettings, ModelRequest, ModelResponse
from cvalues.data import sources
from cvalues.data.pairs import iter_pairs
from data_support import COMPARISON_FILE, MOONSHOT_FILE, PROMPTS_FILE

MC_TRIPLES = Path(__file__).resolve().parents[1] / "src" / "cvalues" / "data" / "sample" / "mc_sample.jsonl"


class Polite:
    """Picks 回复1 and refuses every prompt it is asked to answer."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec, self.batch_size, self.max_concurrency = spec, 16, 1

    async def complete(
        self, requests: Sequence[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        return [
            ModelResponse(choice_logprobs={"回复1": -0.1, "回复2": -3.0})
            if r.kind == "choices"
            else ModelResponse(
                text="回复1" if "回复1" in r.messages[-1].content else "抱歉，我不能回答这个问题。"
            )
            for r in requests
        ]

    async def aclose(self) -> None:
        return None


BACKENDS.register("polite", lambda spec, options: Polite(spec))


def test_the_cvalues_suite_runs_offline_and_fills_the_papers_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    (data / "cvalues-comparison").mkdir(parents=True)
    shutil.copy(COMPARISON_FILE, data / "cvalues-comparison" / "test.jsonl")
    shutil.copy(PROMPTS_FILE, data / PROMPTS_FILE.name)
    shutil.copy(MOONSHOT_FILE, data / MOONSHOT_FILE.name)
    # The official 1,712-item file cannot be had offline: its published third-party conversion
    # (the same items, checksummed) stands in for it under the official name.
    moonshot = sources.SOURCES_BY_NAME["cvalues-responsibility-mc-moonshot"]
    monkeypatch.setitem(
        sources.SOURCES_BY_NAME,
        "cvalues-responsibility-mc",
        replace(moonshot, name="cvalues-responsibility-mc"),
    )
    monkeypatch.setenv("CVALUES_DATA_DIR", str(data))
    monkeypatch.setenv("CVALUES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CVALUES_MODELSCOPE_ENDPOINT", "http://127.0.0.1:9/")

    result = cvalues.evaluate(
        "polite:m",
        "cvalues",
        out=tmp_path / "eval",
        db=f"sqlite:///{tmp_path / 'db'}",
        limit=6,
        progress=False,
    )
    assert result.failed == {} and result.ok
    # No judge model; a plugin backend is not a local model, so no logprob-mode task either.
    assert set(result.skipped) == {"judge-l1-safety", "judge-l2-responsibility", "mc-l2-logprob"}
    l1 = result.tasks["mc-l1"]
    assert l1.dataset["name"] == "cvalues-comparison-test" and l1.dataset["levels"] == {"safety": 6}
    assert {s.difficulty for s in l1.samples} == {"拒绝为主>风险回复"}
    row = result.summary["row"]
    assert row["l1_mc"]["n"] == 6 and row["l1_mc"]["acc"] == 0.5  # both orders, always 回复1
    assert row["l2_mc"]["n"] == 6 and row["refusal"]["value"] == 1.0 and row["over_refusal"]["value"] == 1.0
    assert row["safety"]["needs"] == "--judge" and row["responsibility"]["needs"] == "--judge"
    assert (tmp_path / "eval" / "report.html").is_file()


class LongerIsBetter:
    """A pairwise judge that always prefers the longer reply (so both orders agree)."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec, self.batch_size, self.max_concurrency = spec, 16, 1

    async def complete(
        self, requests: Sequence[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        answers = []
        for request in requests:
            text = request.messages[-1].content
            a = text.split("【回复A】", 1)[1].split("【回复B】", 1)[0]
            b = text.split("【回复B】", 1)[1].split("【比较标准】", 1)[0]
            answers.append(
                ModelResponse(text='{"better": "%s", "reason": "更长"}' % ("A" if len(a) > len(b) else "B"))
            )
        return answers

    async def aclose(self) -> None:
        return None


BACKENDS.register("longer", lambda spec, options: LongerIsBetter(spec))


def test_a_pairs_task_in_a_suite_uses_the_judge_in_both_orders(tmp_path: Path) -> None:
    suite = tmp_path / "pairs.toml"
    suite.write_text(
        'name = "pairs"\n\n[[tasks]]\nname = "pairs-judge"\nkind = "pairs"\n'
        'dataset = "sample"\nscorer = "judge"\n',
        encoding="utf-8",
    )
    result = cvalues.evaluate(
        "polite:m",
        str(suite),
        judge="longer:j",
        out=tmp_path / "eval",
        db=f"sqlite:///{tmp_path / 'db'}",
        progress=False,
    )
    pairs = result.tasks["pairs-judge"]
    assert (
        result.ok and pairs.metrics.n == 32 and pairs.execution is not None and pairs.execution.n_sent == 64
    )
    assert pairs.metrics.order_consistency["consistency"] == 1.0
    longer_better = sum(len(p.pos) > len(p.neg) for p in iter_pairs(MC_TRIPLES))
    assert pairs.metrics.correct == longer_better
    without = cvalues.evaluate(
        "polite:m", str(suite), out=tmp_path / "e2", db=f"sqlite:///{tmp_path / 'db'}", progress=False
    )
    assert without.skipped == {"pairs-judge": "needs a judge model (--judge)"}
