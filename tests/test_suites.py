"""Suites as data: the built-in ones load, and a bad suite file is refused naming its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_support import run_cli
from cvalues.core.errors import InputError
from cvalues.tasks.suite import ROWS, load_suite

GOOD = """\
name = "mine"

[[tasks]]
name = "mc"
kind = "mc"
dataset = "sample"
row = "l2_mc"

[[tasks]]
name = "gen"
kind = "generate"
dataset = "sample"
max_tokens = 32

[[tasks]]
name = "judged"
kind = "judge"
input = "gen"
rubric = "safety"
"""


@pytest.mark.parametrize("name", ["sample", "cvalues"])
def test_builtin_suites_load_and_fill_the_papers_row(name: str) -> None:
    suite = load_suite(name)
    rows = {task.row for task in suite.tasks if task.row}
    assert rows <= set(ROWS) and {"l2_mc", "safety", "responsibility", "over_refusal"} <= rows
    judged = [task for task in suite.tasks if task.kind == "judge"]
    assert judged and all(suite.task(task.input or "").kind == "generate" for task in judged)


def test_the_sample_suite_keeps_the_levels_apart() -> None:
    suite = load_suite("sample")
    mc = {task.name: task.level for task in suite.tasks if task.kind == "mc"}
    assert mc["mc-l1"] == "safety" and mc["mc-l2"] == "responsibility"


def test_a_user_suite_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(GOOD, encoding="utf-8")
    suite = load_suite(str(path))
    assert [t.name for t in suite.tasks] == ["mc", "gen", "judged"]
    assert suite.task("gen").max_tokens == 32


@pytest.mark.parametrize(
    ("edit", "line", "fragment"),
    [
        (('kind = "generate"', 'kind = "essay"'), 11, "kind must be one of mc, generate, judge"),
        (("max_tokens = 32", "max_tokens = 0"), 13, "'max_tokens' must be a whole number"),
        (('input = "gen"', 'input = "mc"'), 18, "is not a generate task of this suite"),
        (('row = "l2_mc"', 'row = "l3"'), 7, "row must be one of"),
        (('dataset = "sample"\nrow', 'colour = "red"\nrow'), 6, "unknown key 'colour'"),
        (('name = "gen"', 'name = "mc"'), 10, "task name 'mc' is used twice"),
        (('[[tasks]]\nname = "judged"', '[[tasks]\nname = "judged"'), 15, "invalid TOML"),
    ],
)
def test_a_bad_suite_names_the_file_and_line(
    tmp_path: Path, edit: tuple[str, str], line: int, fragment: str
) -> None:
    path = tmp_path / "bad.toml"
    assert edit[0] in GOOD
    path.write_text(GOOD.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_suite(str(path))
    assert (caught.value.path, caught.value.line) == (str(path), line), str(caught.value)
    assert fragment in str(caught.value)


def test_cvalues_eval_with_a_bad_suite_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace('kind = "generate"', 'kind = "essay"'), encoding="utf-8")
    out = tmp_path / "eval"
    result = run_cli("eval", "--model", "gguf:smollm2", "--suite", path, "--out", out, cwd=tmp_path)
    assert result.code == 2, result.stderr
    assert f"{path}:11:" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() and not (tmp_path / "cvalues.db").exists()


def test_unknown_suite_name_lists_the_known_ones(tmp_path: Path) -> None:
    result = run_cli(
        "eval", "--model", "gguf:smollm2", "--suite", "nope", "--out", tmp_path / "x", cwd=tmp_path
    )
    assert result.code == 2 and "--suite" in result.stderr and "sample" in result.stderr


def test_a_suite_says_how_its_requests_travel(tmp_path: Path) -> None:
    path = tmp_path / "ray.toml"
    path.write_text(GOOD.replace('name = "mine"\n', 'name = "mine"\nexecutor = "ray"\nray_workers = 3\n'))
    suite = load_suite(str(path))
    assert (suite.executor, suite.ray_workers, suite.ray_address) == ("ray", 3, None)
    assert load_suite("sample").executor is None  # the flag's default (local) applies


@pytest.mark.parametrize(
    ("head", "line", "fragment"),
    [
        ('executor = "slurm"\n', 2, "executor must be one of local, ray, got 'slurm'"),
        ('executor = "ray"\nray_workers = 0\n', 3, "'ray_workers' must be a whole number of at least 1"),
        ('ray_address = "auto"\n', 2, "'ray_address' needs executor = \"ray\""),
        ('executor = "ray"\nray_address = ""\n', 3, "'ray_address' must be a non-empty string"),
    ],
)
def test_bad_execution_settings_name_the_line(tmp_path: Path, head: str, line: int, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace('name = "mine"\n', 'name = "mine"\n' + head), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_suite(str(path))
    assert (caught.value.path, caught.value.line) == (str(path), line), str(caught.value)
    assert fragment in str(caught.value)


def test_an_executor_written_under_a_task_is_refused_with_where_it_belongs(tmp_path: Path) -> None:
    # TOML puts a key written after [[tasks]] into that task, not the suite.
    path = tmp_path / "late.toml"
    path.write_text(GOOD + 'executor = "ray"\n', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_suite(str(path))
    assert caught.value.line == GOOD.count("\n") + 1
    assert "before the first [[tasks]]" in str(caught.value)
