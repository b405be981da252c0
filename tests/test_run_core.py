"""The Task/Run core: run identity, resume, typed results, and the API inside a running event loop.

The model here is a scripted in-process backend registered under its own provider name (as a
plugin would register one), so every path through the registry, the executor, the store and the
run core is the real one; only the replies are written by the test.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import cvalues
from cvalues.core.backend import ModelSpec
from cvalues.core.errors import InputError
from cvalues.core.registry import BACKENDS
from cvalues.core.requests import GenerationSettings, ModelRequest, ModelResponse
from cvalues.core.results import read_results
from cvalues.report.loading import load_runs, verify_run

SENT: list[str] = []  # every prompt the scripted model was asked, across the tests of this module


class FirstReplyBackend:
    """Always answers 回复1 (generate mode) or prefers 回复1 (logprob mode)."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.batch_size, self.max_concurrency = 8, 1

    async def complete(
        self, requests: Sequence[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        SENT.extend(r.messages[-1].content for r in requests)
        return [
            ModelResponse(choice_logprobs={"回复1": -0.1, "回复2": -2.0})
            if r.kind == "choices"
            else ModelResponse(text="回复1更好。")
            for r in requests
        ]

    async def aclose(self) -> None:
        return None


BACKENDS.register("first-reply", lambda spec, options: FirstReplyBackend(spec))


@pytest.fixture
def db(tmp_path: Path) -> str:
    SENT.clear()
    return f"sqlite:///{tmp_path / 'store.db'}"


def test_a_run_writes_typed_results_that_recompute_from_its_samples(tmp_path: Path, db: str) -> None:
    out = tmp_path / "run"
    result = cvalues.mc("first-reply:m", "sample", out=out, db=db, progress=False)
    assert result.metrics.total == 64 and result.metrics.acc == 0.5  # half the items have 回复1 right
    assert result.metrics.acc_ci[0] <= 0.5 <= result.metrics.acc_ci[1]
    assert len(result.samples) == 64 and {s.pred for s in result.samples} == {"回复1"}
    on_disk = read_results(out)
    assert on_disk.to_json() == result.to_json()
    assert json.loads((out / "results.json").read_text(encoding="utf-8"))["dataset"]["levels"] == {
        "responsibility": 48,
        "safety": 16,
    }
    (run,) = load_runs([out]).runs
    assert verify_run(run).ok is True  # the report's independent recomputation agrees


def test_resume_sends_nothing_and_keeps_the_run_id(tmp_path: Path, db: str) -> None:
    out = tmp_path / "run"
    first = cvalues.mc("first-reply:m", "sample", out=out, db=db, progress=False, limit=10)
    sent = len(SENT)
    again = cvalues.mc("first-reply:m", "sample", out=out, db=db, progress=False, limit=10)
    assert len(SENT) == sent == 10
    assert again.run_id == first.run_id and again.execution is not None
    assert (again.execution.n_sent, again.execution.n_cached) == (0, 10)


def test_another_limit_is_another_item_set_and_is_refused_with_the_difference(
    tmp_path: Path, db: str
) -> None:
    out = tmp_path / "run"
    cvalues.mc("first-reply:m", "sample", out=out, db=db, progress=False)
    with pytest.raises(InputError, match=r"items 64 -> 8") as refused:
        cvalues.mc("first-reply:m", "sample", out=out, db=db, progress=False, limit=8)
    assert refused.value.flag == "--new-run"
    assert len(read_results(out).samples) == 64  # the finished run is untouched
    fresh = cvalues.mc("first-reply:m", "sample", out=out, db=db, progress=False, limit=8, new_run=True)
    assert fresh.metrics.total == 8


def test_a_deleted_run_directory_frees_its_name(tmp_path: Path, db: str) -> None:
    out = tmp_path / "run"
    first = cvalues.mc("first-reply:m", "sample", out=out, db=db, progress=False, limit=4)
    shutil.rmtree(out)
    other = tmp_path / "other.jsonl"
    other.write_text(
        json.dumps(
            {"question": "问题", "better": "好的回复", "worse": "坏的回复", "level": "safety"},
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    second = cvalues.mc("first-reply:m", str(other), out=out, db=db, progress=False)
    assert second.run_id != first.run_id and second.metrics.total == 2


def test_the_sync_api_works_inside_a_running_event_loop(tmp_path: Path, db: str) -> None:
    plain = cvalues.mc("first-reply:m", "sample", out=tmp_path / "a", db=db, progress=False, limit=6)

    async def notebook_cell() -> Any:
        return cvalues.mc("first-reply:m", "sample", out=tmp_path / "b", db=db, progress=False, limit=6)

    inside = asyncio.run(notebook_cell())

    async def async_code() -> Any:
        return await cvalues.mc_async(
            "first-reply:m", "sample", out=tmp_path / "c", db=db, progress=False, limit=6
        )

    awaited = asyncio.run(async_code())
    for other in (inside, awaited):
        assert other.metrics.model_dump() == plain.metrics.model_dump()


def test_mc_score_is_a_task_without_requests(tmp_path: Path) -> None:
    replies = tmp_path / "replies.jsonl"
    rows = [
        {"id": "1", "response": "回复1更好", "label": "回复1"},
        {"id": "2", "response": "我选回复2", "label": "回复1"},
        {"id": "3", "response": "都不好", "label": "回复2"},
    ]
    replies.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    result = cvalues.mc_score(replies, out=tmp_path / "scored")
    assert (result.metrics.total, result.metrics.correct) == (3, 1)
    assert result.execution is None and "execution" not in read_results(tmp_path / "scored").to_json()
