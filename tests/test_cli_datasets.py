"""``cvalues datasets``: list, show, fetch, validate, run through Typer's CliRunner."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cvalues.cli.datasets import app
from cvalues.core.errors import InputError
from cvalues.data.resolve import load_mc_dataset
from data_support import JADE_HARD_FILE, MOONSHOT_FILE, PROMPTS_FILE, SHARED_DATA, go_offline

runner = CliRunner()


@pytest.fixture(autouse=True)
def offline_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return go_offline(tmp_path, monkeypatch)


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    return result.output


@pytest.mark.parametrize("command", [[], ["list"], ["show"], ["fetch"], ["validate"]])
def test_help_on_every_command(command: list[str]) -> None:
    output = _invoke(*command, "--help")
    assert "Usage" in output


def test_list_tells_what_is_available_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CVALUES_DATA_DIR", str(SHARED_DATA))
    lines = _invoke("list").splitlines()

    def row(name: str) -> str:
        return next(line for line in lines if f" {name} " in line)

    assert "yes" in row("sample")
    assert "yes (data dir)" in row("cvalues-responsibility-prompts")
    assert "yes (data dir)" in row("cvalues-responsibility-mc-moonshot")
    assert "no" in row("cvalues-responsibility-mc") and "yes" not in row("cvalues-responsibility-mc")


def test_show_prints_counts_and_at_most_60_chars_of_one_question() -> None:
    output = _invoke("show", str(MOONSHOT_FILE))
    assert "items: 1712" in output and "pairs: 856" in output and "questions: 664" in output
    assert "  law: 276" in output and "  social_science: 350" in output
    items = load_mc_dataset(str(MOONSHOT_FILE)).items
    assert not any(item.reply1 in output for item in items)
    example = next(line for line in output.splitlines() if line.startswith("example question: "))
    assert len(example.removeprefix("example question: ")) <= 61


def test_show_safety_pairs_does_not_dump_the_harmful_questions() -> None:
    output = _invoke("show", str(JADE_HARD_FILE))
    assert "  hard: 300" in output and "  safety: 300" in output
    questions = {item.question for item in load_mc_dataset(str(JADE_HARD_FILE)).items}
    assert sum(question in output for question in questions) <= 1  # only a short one can fit 60 chars
    assert len(output.splitlines()) < 30


def test_show_a_prompt_set_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CVALUES_DATA_DIR", str(SHARED_DATA))
    output = _invoke("show", "cvalues-responsibility-prompts")
    assert "prompts: 664" in output and "  social_science:" in output


def test_fetch_prints_path_and_sha256(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CVALUES_DATA_DIR", str(SHARED_DATA))
    output = _invoke("fetch", "cvalues-responsibility-prompts")
    assert f"path: {PROMPTS_FILE}" in output
    assert "sha256: ee99050d4a8933829697c796e279b83795838feacefc84cdd06856bad01bfff4" in output


def test_validate_with_field_mapping(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    row = {"题目": "可以酒驾吗？", "好": "不可以。", "坏": "可以。"}
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    output = _invoke(
        "validate",
        str(path),
        "--field",
        "question=题目",
        "--field",
        "better=好",
        "--field",
        "worse=坏",
        "--level",
        "safety",
    )
    assert output.strip() == "ok: 2 items"


def test_validate_bad_file_raises_input_error_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"question": "问", "reply1": "甲", "reply2": "乙", "label": "回复3"}\n', encoding="utf-8"
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert isinstance(result.exception, InputError)
    assert str(result.exception).startswith(f"{path}:1: label must be")


def test_bad_field_flag_is_an_input_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(MOONSHOT_FILE), "--field", "question"])
    assert isinstance(result.exception, InputError) and result.exception.flag == "--field"


def test_console_entry_point_exits_2_on_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cvalues.cli.app import main

    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["cvalues", "datasets", "validate", str(path)])
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and "empty.csv: no rows" in error and "\n" not in error


def _lettered_file(tmp_path: Path) -> Path:
    rows = [
        {"id": "q1", "question": "能闯红灯吗？", "options": ["不能", "能"], "answer": 0},
        {"id": "q2", "question": "怎么办？", "options": ["甲", "乙", "丙"], "answer": 2, "context": "在路口"},
        {"id": "q3", "question": "选哪个？", "options": ["甲", "乙", "丙", "丁"], "answer": 1},
    ]
    path = tmp_path / "letters.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_show_lettered_file_prints_levels_options_and_letters(tmp_path: Path) -> None:
    path = _lettered_file(tmp_path)
    output = _invoke("show", str(path), "--answer-base", "0", "--level", "safety")
    assert "lettered items: 3\n" in output and "with context: 1\n" in output
    counts = output.split("options per item:\n", 1)[1].split("questions:", 1)[0]
    assert sorted(counts.split("\n")[:3]) == ["  2: 1", "  3: 1", "  4: 1"]
    assert "levels:\n  safety: 3\n" in output
    assert "labels:" in output and "  C: 1" in output and "  A: 1" in output and "  B: 1" in output
    assert _invoke("validate", str(path), "--answer-base", "0", "--level", "safety").strip() == (
        "ok: 3 items (3 with lettered options)"
    )


@pytest.mark.parametrize(
    ("args", "flag"), [(["--level", "safety"], "--answer-base"), (["--answer-base", "0"], "--level")]
)
def test_show_and_validate_refuse_without_base_or_level(tmp_path: Path, args: list[str], flag: str) -> None:
    path = _lettered_file(tmp_path)
    for command in ("show", "validate"):
        result = runner.invoke(app, [command, str(path), *args])
        assert isinstance(result.exception, InputError) and flag in str(result.exception)
