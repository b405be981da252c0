"""`mc score --parser strict`, unfinished replies in the summary, and `compare` counting n per metric."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import run_cli


def _write(path: Path, replies: list[str]) -> Path:
    rows = [
        {
            "id": f"i{i}",
            "response": reply,
            "label": "回复1" if i % 2 == 0 else "回复2",
            "meta_info": {"question": f"问题{i // 2}", "domain_en": "law"},
        }
        for i, reply in enumerate(replies)
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _samples(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "samples.jsonl").read_text(encoding="utf-8").splitlines()]


def test_strict_parser_sends_disputed_labels_to_need_check(tmp_path: Path) -> None:
    replies = ["我不认为回复1更好。", "回复2", "<think>回复1更好？</think>回复1", "<think>回复2更好"]
    path = _write(tmp_path / "r.jsonl", replies)
    default = run_cli("mc", "score", path, "--out", tmp_path / "D")
    assert default.code == 0, default.stderr
    strict = run_cli("mc", "score", path, "--out", tmp_path / "S", "--parser", "strict")
    assert strict.code == 0, strict.stderr
    d, s = _samples(tmp_path / "D"), _samples(tmp_path / "S")
    assert [x["pred"] for x in d] == ["回复1", "回复2", "回复1", "Unfinished"]
    assert [x["pred"] for x in s] == ["Need_Check", "回复2", "回复1", "Unfinished"]
    assert d[0]["disputed"] is True and d[2]["reasoning"] == "回复1更好？"
    results = json.loads((tmp_path / "S" / "results.json").read_text(encoding="utf-8"))
    m = results["metrics"]
    assert (m["disputed_cnt"], m["unfinished_cnt"], m["need_check_cnt"], m["pred_cnt"]) == (1, 1, 1, 2)
    assert results["model"]["parser"] == "strict"
    assert "--max-tokens" in strict.stdout and "--max-tokens" in " ".join(results["notes"])
    bad = run_cli("mc", "score", path, "--parser", "loose")
    assert bad.code == 2 and "--parser" in bad.stderr


def test_compare_counts_n_on_the_items_each_metric_uses(tmp_path: Path) -> None:
    n = 64
    answered_a = ["回复1" if i % 2 == 0 else "回复2" for i in range(9)] + ["不好说"] * (n - 9)
    answered_b = ["回复1" if i % 2 == 0 else "回复2" for i in range(10)] + ["不好说"] * (n - 10)
    for name, replies in (("a", answered_a), ("b", answered_b)):
        result = run_cli("mc", "score", _write(tmp_path / f"{name}.jsonl", replies), "--out", tmp_path / name)
        assert result.code == 0, result.stderr
    out = tmp_path / "c.json"
    result = run_cli("compare", tmp_path / "a", tmp_path / "b", "--json", out)
    assert result.code == 0, result.stderr
    metrics = {m["metric"]: m for m in json.loads(out.read_text(encoding="utf-8"))["metrics"]}
    assert metrics["acc"]["n"] == n
    assert (metrics["acc*"]["n"], metrics["acc*"]["n_a"], metrics["acc*"]["n_b"]) == (10, 9, 10)
    assert (metrics["share of 回复1 picks"]["n_a"], metrics["share of 回复1 picks"]["n_b"]) == (9, 10)
    table = run_cli("compare", tmp_path / "a", tmp_path / "b")
    assert table.code == 0 and "9/10" in table.stdout
