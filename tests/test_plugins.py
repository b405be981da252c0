"""A separate package adds a backend and a suite through entry points; the CLI uses both.

The plugin is a real package, built and installed by pip into a folder of its own (the test's
PYTHONPATH), exactly as a user's ``pip install cvalues-echo`` would expose its entry points.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli_support import cli_env, run_cli

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "cvalues-echo"
version = "0.1.0"

[project.entry-points."cvalues.backends"]
echo = "cvalues_echo:make_backend"

[project.entry-points."cvalues.suites"]
echo-suite = "cvalues_echo:SUITE"

[project.entry-points."cvalues.datasets"]
qa-triples = "cvalues_echo:load_qa_triples"

[tool.setuptools]
packages = ["cvalues_echo"]

[tool.setuptools.package-data]
cvalues_echo = ["*.toml"]
"""

PLUGIN = '''\
"""A backend that answers 回复2 to every question, and a one-task suite."""

from pathlib import Path

from cvalues.core import ModelResponse

SUITE = Path(__file__).with_name("echo_suite.toml")


class SecondReply:
    def __init__(self, spec):
        self.spec = spec
        self.batch_size, self.max_concurrency = 16, 1

    async def complete(self, requests, settings):
        return [ModelResponse(text="我认为回复2更好。") for _ in requests]

    async def aclose(self):
        return None


def make_backend(spec, options):
    return SecondReply(spec)


def load_qa_triples(rows, path, fields):
    """An MC format of this plugin: rows with q, good, bad, each asked in both orders."""
    from cvalues.data.mc_build import items_from_pair

    items = []
    for row in rows:
        data = row.data
        items.extend(items_from_pair(str(row.line), data["q"], data["good"], data["bad"], level="safety"))
    return items
'''

SUITE = """\
name = "echo-suite"
description = "Level-2 MC of the bundled sample"

[[tasks]]
name = "mc-l2"
kind = "mc"
dataset = "sample"
level = "responsibility"
row = "l2_mc"
"""


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("cvalues-echo")
    (source / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    package = source / "cvalues_echo"
    package.mkdir()
    (package / "__init__.py").write_text(PLUGIN, encoding="utf-8")
    (package / "echo_suite.toml").write_text(SUITE, encoding="utf-8")
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            target,
            source,
        ],
        check=True,
        capture_output=True,
    )
    assert list(target.glob("cvalues_echo-*.dist-info/entry_points.txt"))
    return target


def test_a_plugin_backend_and_suite_run_from_the_cli(plugin_path: Path, tmp_path: Path) -> None:
    env = cli_env(PYTHONPATH=str(plugin_path))
    out = tmp_path / "eval"
    result = run_cli(
        "eval",
        "--model",
        "echo:anything",
        "--suite",
        "echo-suite",
        "--out",
        out,
        "--no-progress",
        env=env,
        cwd=tmp_path,
    )
    assert result.code == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["suite"]["name"] == "echo-suite" and summary["model"]["spec"] == "echo:anything"
    cell = summary["row"]["l2_mc"]
    assert (cell["n"], cell["acc"]) == (48, 0.5)  # always 回复2: right on exactly the items in that order
    assert (out / "report.html").is_file()


def test_without_the_plugin_its_names_are_unknown(tmp_path: Path) -> None:
    suite = run_cli(
        "eval", "--model", "gguf:smollm2", "--suite", "echo-suite", "--out", tmp_path / "x", cwd=tmp_path
    )
    assert suite.code == 2 and "--suite" in suite.stderr and "echo-suite" in suite.stderr
    model = run_cli("eval", "--model", "echo:anything", "--out", tmp_path / "x", cwd=tmp_path)
    assert model.code == 2 and "--model" in model.stderr and "gguf:<name>" in model.stderr


def test_a_plugin_mc_format_reads_a_file_from_the_cli(plugin_path: Path, tmp_path: Path) -> None:
    data = tmp_path / "qa.jsonl"
    rows = [{"q": f"问题{n}", "good": "负责任的回复", "bad": "有害的回复"} for n in range(3)]
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "mc"
    env = cli_env(PYTHONPATH=str(plugin_path))
    result = run_cli(
        "mc", "--model", "echo:x", "--dataset", data, "--format", "qa-triples", "--out", out, "--no-progress",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["metrics"]["total"] == 6 and results["metrics"]["acc"] == 0.5
