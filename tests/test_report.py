"""`cvalues report` and `cvalues compare` over runs written by `cvalues mc score` (no model needed)."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from cli_support import read_samples, recompute_from_samples, run_cli
from cvalues.report.formatting import fmt_value
from report_support import (
    XSS,
    html_cells,
    mc_score_run,
    read_json,
    responses,
    sample_pairs,
    write_jsonl,
    write_score_run,
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("report-runs")
    items = sample_pairs()
    good = responses(items, p_correct=0.75, seed=1)
    # One wrong pick carries a script: it must reach report.html as inert text.
    wrong = next(i for i, r in enumerate(good) if r["label"] == "回复2")
    good[wrong] = {**good[wrong], "response": f"{XSS} 回复1更好。"}
    worse = responses(items, p_correct=0.75, seed=1, flip=25)
    good_file = write_jsonl(base / "files" / "model-a.jsonl", good)
    runs = {
        "good": mc_score_run(good_file, base / "runs" / "good"),
        "good_again": mc_score_run(good_file, base / "runs" / "good-again"),
        "worse": mc_score_run(write_jsonl(base / "files" / "model-b.jsonl", worse), base / "runs" / "worse"),
    }
    future = base / "runs" / "future"
    future.mkdir()
    (future / "results.json").write_text(
        json.dumps({"schema_version": 99, "task": "mc", "metrics": {}}), encoding="utf-8"
    )
    runs["future"] = future
    return runs


@pytest.fixture(scope="module")
def report(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("report-out")
    result = run_cli(
        "report",
        runs["good"],
        runs["good_again"],
        runs["worse"],
        runs["future"],
        "--out",
        out,
        "--examples",
        "50",
    )
    return out, result


def _row(board: dict[str, Any], spec: str) -> dict[str, Any]:
    return next(r for r in board["rows"] if r["spec"] == spec)


def test_report_writes_all_files_and_exits_1_for_the_skipped_run(report: tuple[Path, Any]) -> None:
    out, result = report
    assert result.code == 1, result.stderr  # a run could not be read: said, and the rest reported
    for name in ("report.html", "report.md", "leaderboard.csv", "leaderboard.json"):
        assert (out / name).stat().st_size > 0, name
    assert "skipped" in result.stdout and "schema_version 99" in result.stdout
    assert "replies:model-a.jsonl" in result.stdout


def test_unknown_schema_version_is_listed_as_skipped_everywhere(
    report: tuple[Path, Any], runs: dict[str, Path]
) -> None:
    out, _ = report
    board = read_json(out / "leaderboard.json")
    [skipped] = board["skipped"]
    assert skipped["path"] == str(runs["future"])
    assert "schema_version 99" in skipped["reason"] and "results.json" in skipped["reason"]
    assert "schema_version 99" in (out / "report.md").read_text(encoding="utf-8")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Files not read" in html and "schema_version 99" in html
    assert len(board["runs"]) == 3


def test_leaderboard_numbers_recompute_from_each_runs_samples(report: tuple[Path, Any]) -> None:
    out, _ = report
    board = read_json(out / "leaderboard.json")
    assert {r["spec"] for r in board["rows"]} == {"replies:model-a.jsonl", "replies:model-b.jsonl"}
    for row in board["rows"]:
        cells = row["cells"]
        recomputed = recompute_from_samples(Path(cells["l2_acc"]["run_path"]))
        m = recomputed["metrics"]
        assert cells["l2_acc"]["value"] == m["acc"] and cells["l2_acc"]["ci"] == m["acc_ci"]
        assert (
            cells["l2_acc_star"]["value"] == m["acc_star"] and cells["l2_acc_star"]["ci"] == m["acc_star_ci"]
        )
        assert cells["l2_unparsed"]["value"] == m["need_check_cnt"]
        assert cells["l2_refused"]["value"] == m["refuse_cnt"]
        assert cells["l2_pair_consistency"]["value"] == recomputed["pair_consistency"]["consistency"]
        assert cells["l2_position_bias"]["value"] == recomputed["position_bias"]["share_reply1"]
        # and by hand, the official definitions
        samples = read_samples(Path(cells["l2_acc"]["run_path"]))
        assert cells["l2_acc"]["value"] == sum(s["pred"] == s["label"] for s in samples) / len(samples)
    for summary in board["runs"]:
        assert summary["verification"]["ok"] is True, summary["verification"]


def test_missing_cells_are_missing_never_zero(report: tuple[Path, Any]) -> None:
    out, _ = report
    board = read_json(out / "leaderboard.json")
    for row in board["rows"]:
        for key in ("safety_score", "responsibility_score", "l1_acc", "l1_acc_star"):
            assert row["cells"][key] is None, key
    cells = html_cells((out / "report.html").read_text(encoding="utf-8"))
    missing = cells[("leaderboard", "replies:model-a.jsonl", "safety_score")]
    assert (
        missing.get("data-missing") == "true"
        and missing["text"].strip() == "—"
        and "data-value" not in missing
    )
    with (out / "leaderboard.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["safety_score"] for r in rows} == {""} and all(r["l2_acc"] for r in rows)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| replies:model-a.jsonl | — | — | — | — |" in md


def test_html_numbers_equal_leaderboard_json(report: tuple[Path, Any]) -> None:
    out, _ = report
    board = read_json(out / "leaderboard.json")
    cells = html_cells((out / "report.html").read_text(encoding="utf-8"))
    kinds = {c["key"]: c["kind"] for c in board["columns"]}
    checked = 0
    for row in board["rows"]:
        for key, cell in row["cells"].items():
            shown = cells.get(("leaderboard", row["model"], key)) or cells.get(
                ("diagnostics", row["model"], key)
            )
            if cell is None:
                assert shown is None or shown.get("data-missing") == "true"
                continue
            assert shown is not None, key
            assert json.loads(shown["data-value"]) == cell["value"]
            assert json.loads(shown["data-ci"]) == cell["ci"]
            assert shown["text"].startswith(fmt_value(cell["value"], kinds[key]))
            checked += 1
    assert checked >= 10


def test_model_output_is_escaped_in_the_html(report: tuple[Path, Any]) -> None:
    out, _ = report
    html = (out / "report.html").read_text(encoding="utf-8")
    assert XSS not in html and "<script" not in html and 'onerror="alert' not in html
    assert (
        "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;" in html
        or "&lt;script&gt;alert(&quot;xss&quot;)" in html
    )
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html


def test_several_runs_in_one_cell_show_a_defined_choice_and_say_so(
    report: tuple[Path, Any], runs: dict[str, Path]
) -> None:
    out, result = report
    row = _row(read_json(out / "leaderboard.json"), "replies:model-a.jsonl")
    [note] = [n for n in row["notes"] if "runs fill this cell" in n]
    assert note.startswith("L2 MC: 2 runs fill this cell")
    shown = row["cells"]["l2_acc"]["run_path"]
    assert shown in (str(runs["good"]), str(runs["good_again"]))
    # The note names the run that is not shown, and where it is. (Which of the two is shown is a
    # defined tie-break; the two runs can start in the same second when the CLI runs in-process.)
    [other] = {str(runs["good"]), str(runs["good_again"])} - {shown}
    assert note.endswith(f" in {other})"), note
    assert "runs fill this cell" in result.stdout.replace("\n", " ")


def test_level_is_shown_and_assumed_level_noted(report: tuple[Path, Any]) -> None:
    out, _ = report
    board = read_json(out / "leaderboard.json")
    assert {r["level"] for r in board["runs"]} == {"L2"}
    assert any("carry no level" in n for n in _row(board, "replies:model-b.jsonl")["notes"])


def test_tampered_results_fail_verification(runs: dict[str, Path], tmp_path: Path) -> None:
    tampered = tmp_path / "tampered"
    shutil.copytree(runs["good"], tampered)
    results = read_json(tampered / "results.json")
    results["metrics"]["acc"] = 0.99
    (tampered / "results.json").write_text(json.dumps(results, ensure_ascii=False), encoding="utf-8")
    result = run_cli("report", tampered, "--out", tmp_path / "out")
    assert result.code == 1
    assert "mismatch" in result.stdout and "metrics.acc" in result.stdout
    [summary] = read_json(tmp_path / "out" / "leaderboard.json")["runs"]
    assert summary["verification"]["ok"] is False
    assert any(m.startswith("metrics.acc:") for m in summary["verification"]["mismatches"])
    # The report shows what the run wrote; it does not silently replace it.
    assert read_json(tmp_path / "out" / "leaderboard.json")["rows"][0]["cells"]["l2_acc"]["value"] == 0.99


def test_judge_run_fills_the_safety_column(runs: dict[str, Path], tmp_path: Path) -> None:
    safe = [True] * 30 + [False] * 8 + [None] * 2
    judge = write_score_run(
        tmp_path / "judge", generator="openai:m", safe=safe, created="2025-01-01T00:00:00+00:00", run_id="j1"
    )
    result = run_cli("report", judge, runs["good"], "--out", tmp_path / "out")
    assert result.code == 0, result.stdout + result.stderr
    board = read_json(tmp_path / "out" / "leaderboard.json")
    row = _row(board, "openai:m")
    assert row["cells"]["safety_score"]["value"] == 30 / 38 and row["cells"]["safety_score"]["n"] == 38
    assert row["cells"]["safety_unparsed"]["value"] == 2 / 40
    assert row["cells"]["l2_acc"] is None and row["cells"]["responsibility_score"] is None
    assert _row(board, "replies:model-a.jsonl")["cells"]["safety_score"] is None


def test_report_of_nothing_readable_is_bad_input(tmp_path: Path) -> None:
    result = run_cli("report", tmp_path / "nope", "--out", tmp_path / "out")
    assert result.code == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def _compare(a: Path, b: Path, out: Path) -> dict[str, Any]:
    result = run_cli("compare", a, b, "--json", out)
    assert result.code == 0, result.stderr
    return read_json(out)


def test_compare_same_model_and_settings_finds_no_difference(runs: dict[str, Path], tmp_path: Path) -> None:
    c = _compare(runs["good"], runs["good_again"], tmp_path / "c.json")
    assert c["items"]["matched"] == 64 and c["items"]["same_prompt"] == 64
    assert [m["metric"] for m in c["metrics"]] == ["acc", "acc*", "share of 回复1 picks"]
    for m in c["metrics"]:
        assert m["significant"] is False and m["diff"] == 0
    assert c["metrics"][0]["test"].startswith("sign-flip") and c["metrics"][0]["p_value"] == 1.0
    assert not any(d["significant"] for d in c["by_domain"])


def test_compare_detects_a_worse_run(runs: dict[str, Path], tmp_path: Path) -> None:
    c = _compare(runs["good"], runs["worse"], tmp_path / "c.json")
    acc = c["metrics"][0]
    good, worse = read_samples(runs["good"]), read_samples(runs["worse"])
    a_only = sum(g["correct"] and not w["correct"] for g, w in zip(good, worse, strict=True))
    b_only = sum(w["correct"] and not g["correct"] for g, w in zip(good, worse, strict=True))
    assert acc["detail"].endswith(f"A higher on {a_only} item(s), B higher on {b_only}")
    assert a_only >= 20 and b_only == 0
    assert acc["p_value"] < 0.01 and acc["significant"] is True
    assert acc["diff"] == pytest.approx(-a_only / 64)
    assert acc["ci"][1] < 0
    by_domain = {d["domain"]: d for d in c["by_domain"]}
    assert sum(d["n"] for d in by_domain.values()) == 64 and "law" in by_domain


def test_compare_prints_a_verdict_per_metric(runs: dict[str, Path]) -> None:
    result = run_cli("compare", runs["good"], runs["worse"])
    assert result.code == 0, result.stderr
    assert "yes, B lower" in result.stdout and "By domain" in result.stdout


def test_compare_refuses_what_cannot_be_paired(runs: dict[str, Path], tmp_path: Path) -> None:
    judge = write_score_run(
        tmp_path / "judge", generator="openai:m", safe=[True, False], created="2025-01-01", run_id="j"
    )
    result = run_cli("compare", runs["good"], judge)
    assert result.code == 2 and "cannot compare a mc-score run with a judge run" in result.stderr
    result = run_cli("compare", runs["good"], tmp_path)
    assert result.code == 2 and "not a run directory" in result.stderr


def test_compare_judge_runs_by_paired_bootstrap(tmp_path: Path) -> None:
    safe_a = [True] * 40
    safe_b = [True] * 10 + [False] * 30
    a = write_score_run(tmp_path / "a", generator="m", safe=safe_a, created="2025-01-01", run_id="a")
    b = write_score_run(tmp_path / "b", generator="m", safe=safe_b, created="2025-01-02", run_id="b")
    c = _compare(a, b, tmp_path / "c.json")
    safety = next(m for m in c["metrics"] if m["metric"] == "safety_score")
    assert safety["a"] == 1.0 and safety["b"] == 0.25 and safety["significant"] is True
    assert math.isclose(safety["diff"], -0.75) and safety["ci"][1] < 0
    same = _compare(a, a, tmp_path / "same.json")
    assert not any(m["significant"] for m in same["metrics"])


def test_human_scores_take_precedence_over_newer_judge_scores(tmp_path: Path) -> None:
    spec = "openai:m"
    judge = write_score_run(
        tmp_path / "judge",
        generator=spec,
        safe=[True] * 10 + [False] * 10,
        created="2025-03-01",
        run_id="jdg",
    )
    human = write_score_run(
        tmp_path / "human",
        generator=spec,
        safe=[True] * 18 + [False] * 2,
        created="2025-01-01",
        run_id="hum",
        task="human",
    )
    resp = write_score_run(
        tmp_path / "resp", generator=spec, scores=[7.0, 8.0, 6.0, 9.0] * 5, created="2025-02-01", run_id="rsp"
    )
    result = run_cli("report", judge, human, resp, "--out", tmp_path / "out")
    assert result.code == 0, result.stdout + result.stderr
    [row] = read_json(tmp_path / "out" / "leaderboard.json")["rows"]
    assert row["cells"]["safety_score"]["source"] == "human" and row["cells"]["safety_score"]["value"] == 0.9
    assert any("hum is shown (the human one" in note for note in row["notes"])
    assert row["cells"]["responsibility_score"]["value"] == 7.5
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert 'aria-label="Safety vs responsibility"' in html


def test_unreadable_runs_are_skipped_with_the_file_and_reason(tmp_path: Path, runs: dict[str, Path]) -> None:
    from cvalues.report.loading import load_runs

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text('{"schema_version": 1,\n  "task": }', encoding="utf-8")
    other_task = tmp_path / "other"
    other_task.mkdir()
    (other_task / "results.json").write_text('{"schema_version": 1, "task": "pairs", "metrics": {}}', "utf-8")
    no_metrics = tmp_path / "no-metrics"
    no_metrics.mkdir()
    (no_metrics / "results.json").write_text(
        '{"schema_version": 1, "task": "mc", "metrics": {"acc": 1}}', "utf-8"
    )
    bad_samples = tmp_path / "bad-samples"
    shutil.copytree(runs["good"], bad_samples)
    with (bad_samples / "samples.jsonl").open("a", encoding="utf-8") as f:
        f.write("{not json\n")
    loaded = load_runs([broken, other_task, no_metrics, bad_samples, tmp_path / "missing"])
    reasons = {s.path.name: s.reason for s in loaded.skipped}
    assert reasons["broken"] == f"{broken / 'results.json'}:2: invalid JSON (Expecting value)"
    assert "unknown task 'pairs'" in reasons["other"]
    assert "MC metrics lack total" in reasons["no-metrics"]
    assert reasons["missing"].endswith("does not exist")
    [run] = loaded.runs
    [warning] = run.warnings
    assert run.samples is None and warning.startswith(f"{bad_samples / 'samples.jsonl'}:65: invalid JSON")
    assert warning.endswith("samples not used")


def test_a_folder_of_runs_is_searched(runs: dict[str, Path]) -> None:
    from cvalues.report.loading import load_runs

    loaded = load_runs([runs["good"].parent])
    assert sorted(r.path.name for r in loaded.runs) == ["good", "good-again", "worse"]
    assert [s.path.name for s in loaded.skipped] == ["future"]
