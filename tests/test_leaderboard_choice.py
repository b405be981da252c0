"""Which run fills a leaderboard cell: one dataset and item set per column, never "newest wins";
mixed-level MC runs split by level; every cell names its dataset and n and flags partial runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import cvalues
from cvalues.core.backend import ModelSpec
from cvalues.core.registry import BACKENDS
from cvalues.core.requests import GenerationSettings, ModelRequest, ModelResponse
from cvalues.report.build import build_report


class Picks:
    """Answers 回复1 (model "one") or 回复2 (any other name) to every question."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec, self.batch_size, self.max_concurrency = spec, 16, 1
        self.text = "回复1更好。" if spec.name == "one" else "回复2更好。"

    async def complete(
        self, requests: Sequence[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        return [ModelResponse(text=self.text) for _ in requests]

    async def aclose(self) -> None:
        return None


BACKENDS.register("picks", lambda spec, options: Picks(spec))


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("board")
    db = f"sqlite:///{base / 'store.db'}"

    def run(model: str, name: str, **options: Any) -> Path:
        cvalues.mc(f"picks:{model}", "sample", out=base / name, db=db, progress=False, **options)
        return base / name

    dirs = [
        run("one", "one-full"),
        run("two", "two-full"),
        run("one", "one-cut", limit=16),  # written last: the newest run of model one
        run("three", "three-cut", limit=8),  # model three was only run on 8 items
    ]
    report = build_report(dirs)
    return json.loads(json.dumps(report.to_json(), ensure_ascii=False)) | {"base": str(base)}


def _row(board: dict[str, Any], spec: str) -> dict[str, Any]:
    return next(row for row in board["rows"] if row["spec"] == spec)


def test_a_column_is_read_on_the_item_set_most_models_share(board: dict[str, Any]) -> None:
    one = _row(board, "picks:one")
    cell = one["cells"]["l2_acc"]
    assert cell["run_path"].endswith("one-full") and cell["n"] == 48  # not the newer 16-item run
    assert cell["dataset"].startswith("sample@") and "64 items" in cell["dataset"]
    assert _row(board, "picks:two")["cells"]["l2_acc"]["run_path"].endswith("two-full")


def test_a_model_run_only_on_other_items_gets_no_number_and_a_note(board: dict[str, Any]) -> None:
    three = _row(board, "picks:three")
    assert three["cells"]["l2_acc"] is None and three["cells"]["l1_acc"] is None
    assert any("not shown: this column is read on" in note for note in three["notes"])


def test_a_mixed_level_run_fills_both_levels_from_its_own_items(board: dict[str, Any]) -> None:
    one = _row(board, "picks:one")
    assert one["cells"]["l1_acc"]["n"] == 16 and one["cells"]["l2_acc"]["n"] == 48
    # Always 回复1: right on exactly the items asked in that order, in each level.
    assert one["cells"]["l1_acc"]["value"] == 0.5 and one["cells"]["l2_acc"]["value"] == 0.5


def test_partial_runs_are_flagged(board: dict[str, Any], tmp_path: Path) -> None:
    cut = build_report([Path(board["base"]) / "one-cut"]).to_json()
    cell = cut["rows"][0]["cells"]["l2_acc"]
    assert cell["flags"] == ["partial: 16 of 64 items"]
    assert "caveat: picks:one: partial: 16 of 64 items" in cut["findings"]


def test_the_report_opens_with_findings(board: dict[str, Any]) -> None:
    findings = board["findings"]
    best = next(f for f in findings if f.startswith("L2 MC acc on sample@"))
    assert "best picks:" in best and "worst picks:" in best and "(n=48)" in best
    tie = next(f for f in findings if f.startswith("L2 MC acc:"))  # both always pick one side: 50% each
    assert "not significant" in tie and "on 48 shared items" in tie
    assert not any(f.startswith("caveat:") for f in findings)  # every shown cell is a whole, clean run
