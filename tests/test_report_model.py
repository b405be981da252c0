"""`cvalues report` / `cvalues compare` over runs made with the real SmolLM2 model (CPU), as a user runs them.

Runs: L2 MC on the CValues responsibility set, the same command again into another folder (every
answer comes from the store's cache), L2 MC with a template that hides the question and replies
(a deliberately worse run), and L1 MC on JADE safety pairs; plus a judge run of the model's
replies in the shape `cvalues judge` writes, for the generation columns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from browser_support import visit_report
from cli_support import cli_env, recompute_from_samples, run_cli
from cvalues.report.formatting import fmt_value
from data_support import JADE_HARD_FILE, MOONSHOT_FILE
from report_support import read_json, write_score_run

pytestmark = pytest.mark.model

SPEC = "gguf:smollm2"
# SmolLM2 opens with an answer ("回复1：") and then writes a reply of its own, which the official
# rules (rightly) leave to a human; four new tokens keep just the answer, so the runs have scores.
FAST = ("--max-tokens", "4", "--batch-size", "8", "--no-progress")
# Format specs of width 0 drop the question and both replies: the model is asked something else.
HIDING_TEMPLATE = "{question:.0}{reply1:.0}{reply2:.0}请写一句关于春天的话。\n"


@pytest.fixture(scope="module")
def model_runs(
    smollm2_backend, cvalues_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("report-model")
    env = cli_env(cvalues_cache)  # smollm2_backend converted the GGUF there: loads take seconds
    db = f"sqlite:///{base / 'store.db'}"
    template = base / "hide.txt"
    template.write_text(HIDING_TEMPLATE, encoding="utf-8")
    l2 = ("mc", "--model", SPEC, "--dataset", MOONSHOT_FILE, "--limit", "20", "--db", db, *FAST)
    commands = {
        "l2": (*l2, "--out", base / "l2"),
        "l2_again": (*l2, "--out", base / "l2-again"),
        "l2_hidden": (*l2, "--template", template, "--out", base / "l2-hidden"),
        "l1": (
            "mc",
            "--model",
            SPEC,
            "--dataset",
            JADE_HARD_FILE,
            "--limit",
            "8",
            "--db",
            db,
            *FAST,
            "--out",
            base / "l1",
        ),
    }
    runs: dict[str, Path] = {}
    for name, args in commands.items():
        result = run_cli(*args, env=env)
        assert result.code == 0, result.stderr[-2000:]
        runs[name] = Path(args[-1])
    runs["judge"] = write_score_run(
        base / "judge",
        generator=SPEC,
        safe=[True] * 6 + [False] * 14,
        created="2025-01-01T00:00:00+00:00",
        run_id="judge-smollm2",
    )
    return runs


@pytest.fixture(scope="module")
def model_report(model_runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report-model-out")
    result = run_cli("report", *model_runs.values(), "--out", out)
    assert result.code == 0, result.stdout + result.stderr
    assert "gguf:smollm2" in result.stdout
    return out


def _row(board: dict[str, Any], label: str) -> dict[str, Any]:
    return next(r for r in board["rows"] if r["model"] == label)


def test_the_cached_rerun_sent_nothing(model_runs: dict[str, Path]) -> None:
    again = read_json(model_runs["l2_again"] / "results.json")
    assert again["execution"]["n_sent"] == 0
    hidden = read_json(model_runs["l2_hidden"] / "results.json")
    assert hidden["model"]["template"]["source"].endswith("hide.txt")


def test_leaderboard_of_real_runs_recomputes_from_samples(
    model_report: Path, model_runs: dict[str, Path]
) -> None:
    board = read_json(model_report / "leaderboard.json")
    main = _row(board, SPEC)
    cells = main["cells"]
    for prefix, run in (("l1", "l1"), ("l2", "l2")):
        path = Path(cells[f"{prefix}_acc"]["run_path"])
        assert path in (model_runs[run], model_runs.get(f"{run}_again"))
        recomputed = recompute_from_samples(path)
        assert cells[f"{prefix}_acc"]["value"] == recomputed["metrics"]["acc"]
        assert cells[f"{prefix}_acc"]["ci"] == recomputed["metrics"]["acc_ci"]
        assert cells[f"{prefix}_acc_star"]["value"] == recomputed["metrics"]["acc_star"]
        assert cells[f"{prefix}_unparsed"]["value"] == recomputed["metrics"]["need_check_cnt"]
        assert cells[f"{prefix}_position_bias"]["value"] == recomputed["position_bias"]["share_reply1"]
    assert cells["safety_score"]["value"] == 6 / 20 and cells["responsibility_score"] is None
    assert any(n.startswith("L2 MC: 2 runs fill this cell") for n in main["notes"])
    levels = {Path(r["path"]).name: r["level"] for r in board["runs"]}
    assert levels["l1"] == "L1" and levels["l2"] == "L2" and levels["judge"] is None
    hidden = next(r for r in board["rows"] if r["variant"].get("template", "").startswith("hide.txt@"))
    assert hidden["cells"]["l2_acc"]["value"] == 0.0 and hidden["cells"]["l1_acc"] is None
    assert all(r["verification"]["ok"] is True for r in board["runs"] if r["task"] == "mc")
    [gap] = [p for p in board["mc_vs_generation"]["points"] if p["model"] == SPEC]
    assert gap["comparison"] == "L1 MC acc vs safety score" and gap["generation"] == 6 / 20


def test_report_of_real_runs_in_chromium(model_report: Path, tmp_path: Path) -> None:
    screenshot = tmp_path / "smollm2-report.png"
    visit = visit_report(model_report / "report.html", screenshot)
    assert visit.failed == [] and visit.requests == [(model_report / "report.html").resolve().as_uri()]
    assert screenshot.stat().st_size > 20_000
    board = read_json(model_report / "leaderboard.json")
    kinds = {c["key"]: c["kind"] for c in board["columns"]}
    dom = {(c["table"], c["model"], c["col"]): c for c in visit.cells}
    for row in board["rows"]:
        for key, cell in row["cells"].items():
            shown = dom.get(("leaderboard", row["model"], key)) or dom.get(("diagnostics", row["model"], key))
            if cell is None:
                assert shown is None or shown["missing"], key
                continue
            assert json.loads(shown["value"]) == cell["value"] and json.loads(shown["ci"]) == cell["ci"]
            assert shown["text"].startswith(fmt_value(cell["value"], kinds[key]))


def _compare(a: Path, b: Path, out: Path) -> dict[str, Any]:
    result = run_cli("compare", a, b, "--json", out)
    assert result.code == 0, result.stderr
    return read_json(out)


def test_compare_same_model_and_settings_is_not_significant(
    model_runs: dict[str, Path], tmp_path: Path
) -> None:
    c = _compare(model_runs["l2"], model_runs["l2_again"], tmp_path / "same.json")
    assert c["items"]["matched"] == 20 and c["items"]["same_prompt"] == 20
    assert not any(m["significant"] for m in c["metrics"])


def test_compare_finds_the_template_that_hides_the_question(
    model_runs: dict[str, Path], tmp_path: Path
) -> None:
    c = _compare(model_runs["l2"], model_runs["l2_hidden"], tmp_path / "worse.json")
    acc = c["metrics"][0]
    correct = round(acc["a"] * 20)
    assert acc["metric"] == "acc" and acc["b"] == 0.0 and correct >= 6
    assert acc["detail"].endswith(f"A higher on {correct} item(s), B higher on 0")
    assert acc["p_value"] < 0.05 and acc["significant"] is True
    assert c["items"]["same_prompt"] == 0 and any("prompt sent differs" in n for n in c["notes"])
