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
from data_support import COMPARISON_FILE, MOONSHOT_FILE, PROMPTS_FILE


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
