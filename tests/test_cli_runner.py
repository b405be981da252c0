"""The in-process ``run_cli`` gives what ``python -m cvalues`` gives: exit code, stdout and stderr.

Most CLI tests run the command in the test process (tests/cli_support.py); this checks, on a rich
table and on a bad-input error, that nothing of what a user sees differs from a real subprocess.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cli_support import cli_env, run_cli

CASES = {
    "table": ("datasets", "list"),
    "bad input": ("mc", "--dataset", "sample", "--out", "out"),  # no --model: exit 2, one line
}


def test_in_process_runs_match_subprocess_runs(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "cache")
    folders = {name: tmp_path / name.replace(" ", "-") for name in CASES}
    for folder in folders.values():
        folder.mkdir()
    with ThreadPoolExecutor(max_workers=len(CASES)) as pool:
        fresh = dict(
            zip(
                CASES,
                pool.map(
                    lambda name: run_cli(*CASES[name], env=env, cwd=folders[name], subprocess=True), CASES
                ),
                strict=True,
            )
        )
    cwd = os.getcwd()
    for name, args in CASES.items():
        here = run_cli(*args, env=env, cwd=folders[name])
        assert (here.code, here.stdout, here.stderr) == (
            fresh[name].code,
            fresh[name].stdout,
            fresh[name].stderr,
        )
    assert os.getcwd() == cwd and "CVALUES_CACHE" not in os.environ  # the test process is as it was
    assert fresh["table"].code == 0 and "cvalues-responsibility-mc" in fresh["table"].stdout
    assert fresh["bad input"].code == 2 and fresh["bad input"].stderr.startswith("error: ")
    assert not any(folders["bad input"].iterdir())
