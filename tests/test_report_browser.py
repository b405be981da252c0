"""report.html in real headless Chromium: offline, self-contained, the same numbers as leaderboard.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from browser_support import visit_report
from cli_support import run_cli
from cvalues.report.formatting import fmt_value
from report_support import XSS, mc_score_run, read_json, responses, sample_pairs, write_jsonl, write_score_run


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("browser-report")
    items = sample_pairs()
    good = responses(items, p_correct=0.8, seed=2)
    wrong = next(i for i, r in enumerate(good) if r["label"] == "回复2")
    good[wrong] = {**good[wrong], "response": f"{XSS} 回复1更好。"}
    runs = [
        mc_score_run(write_jsonl(base / "files" / "model-a.jsonl", good), base / "runs" / "a"),
        mc_score_run(
            write_jsonl(base / "files" / "model-b.jsonl", responses(items, p_correct=0.5, seed=3)),
            base / "runs" / "b",
        ),
    ]
    # Judge runs of model A's replies (same evaluated model, so its MC and generation figures meet).
    spec = "replies:model-a.jsonl"
    runs.append(
        write_score_run(
            base / "runs" / "a-safety",
            generator=spec,
            safe=[True] * 12 + [False] * 26 + [None] * 2,
            created="2025-01-01T00:00:00+00:00",
            run_id="judge-safety",
        )
    )
    runs.append(
        write_score_run(
            base / "runs" / "a-resp",
            generator=spec,
            scores=[6.0, 7.0, 5.0, 8.0] * 10,
            created="2025-01-01T00:00:00+00:00",
            run_id="judge-resp",
        )
    )
    out = base / "report"
    result = run_cli("report", *runs, "--out", out, "--examples", "50")
    assert result.code == 0, result.stdout + result.stderr
    return out


def _cells_by_key(visit_cells: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(c["table"], c["model"], c["col"]): c for c in visit_cells}


def test_report_opens_offline_with_the_leaderboard_numbers(report_dir: Path, tmp_path: Path) -> None:
    screenshot = tmp_path / "report.png"
    visit = visit_report(report_dir / "report.html", screenshot)
    assert visit.failed == [], visit.failed
    # One request: the file itself. No script, font, stylesheet or image from anywhere.
    assert visit.requests == [(report_dir / "report.html").resolve().as_uri()]
    assert visit.alerts == [] and visit.console_errors == []
    assert visit.title.startswith("CValues report")
    assert screenshot.stat().st_size > 20_000

    board = read_json(report_dir / "leaderboard.json")
    kinds = {c["key"]: c["kind"] for c in board["columns"]}
    shown = _cells_by_key(visit.cells)
    compared = 0
    for row in board["rows"]:
        for key, cell in row["cells"].items():
            dom = shown.get(("leaderboard", row["model"], key)) or shown.get(
                ("diagnostics", row["model"], key)
            )
            if cell is None:
                assert dom is None or (dom["missing"] and dom["text"].strip() == "—"), key
                continue
            assert dom is not None, (row["model"], key)
            assert json.loads(dom["value"]) == cell["value"]
            assert json.loads(dom["ci"]) == cell["ci"]
            assert dom["text"].startswith(fmt_value(cell["value"], kinds[key]))
            compared += 1
    assert compared >= 15
    model_a = next(r for r in board["rows"] if r["spec"] == "replies:model-a.jsonl")
    assert model_a["cells"]["safety_score"]["value"] == 12 / 38
    assert shown[("leaderboard", "replies:model-b.jsonl", "safety_score")]["missing"] is True


def test_report_shows_every_chart_and_flags_the_gap(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    for label in (
        "L2 MC acc",
        "Safety vs responsibility",
        "MC accuracy vs generation score",
        "Position bias",
    ):
        assert f'aria-label="{label}"' in html, label
    assert 'aria-label="L2 MC acc by domain"' in html and 'aria-label="L2 MC acc by scenario"' in html
    board = read_json(report_dir / "leaderboard.json")
    points = board["mc_vs_generation"]["points"]
    assert [p["comparison"] for p in points] == ["L2 MC acc vs responsibility score"]
    # model A: ~80% MC accuracy, responsibility 6.5/10 -> (6.5 - 1) / 9 = 61%
    assert points[0]["generation"] == pytest.approx(5.5 / 9) and points[0]["gap"] >= 0.10
    assert points[0]["flagged"] is (points[0]["mc_ci"][0] > points[0]["generation_ci"][1])
    assert "<script" not in html and "&lt;script&gt;" in html
