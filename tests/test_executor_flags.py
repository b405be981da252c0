"""``--executor``, ``--ray-address`` and ``--ray-workers`` on every command that runs a model, and
the same keywords in the Python API: a bad combination is refused before anything is written.

No cluster is started here (tests/test_ray_executor.py runs real ones)."""

from __future__ import annotations

from pathlib import Path

import pytest

import cvalues
from cli_support import run_cli
from cvalues.core.errors import InputError
from data_support import COMPARISON_FILE, MOONSHOT_FILE

SERVER = ("--base-url", "http://127.0.0.1:9/v1")  # never reached: the flags are refused first
URL = SERVER[1]


def _command(name: str, tmp_path: Path) -> tuple[str | Path, ...]:
    """A command line for ``name`` that would run a model, were its executor flags good."""
    if name == "mc":
        return ("mc", "--model", "openai:m", *SERVER, "--dataset", MOONSHOT_FILE)
    if name == "generate":
        return ("generate", "--model", "openai:m", *SERVER, "--dataset", "sample")
    if name == "judge":
        replies = tmp_path / "replies.jsonl"
        replies.write_text('{"prompt": "你好", "response": "你好！"}\n', encoding="utf-8")
        return ("judge", "--responses", replies, "--judge", "openai:m", *SERVER)
    if name == "pairs":
        return ("pairs", "--scorer", "judge:openai:m", *SERVER, "--dataset", COMPARISON_FILE)
    assert name == "eval"
    return ("eval", "--model", "openai:m", *SERVER, "--suite", "sample")


BAD_EXECUTOR = ("--executor", "slurm"), "--executor", "must be one of local, ray, got 'slurm'"
ADDRESS_ALONE = ("--ray-address", "auto"), "--ray-address", "a cluster address needs --executor ray"


# The message is the executor check's own (an unknown flag would be click's "No such option").
@pytest.mark.parametrize(
    ("command", "case"),
    [
        ("mc", ADDRESS_ALONE),
        ("generate", BAD_EXECUTOR),
        ("judge", ADDRESS_ALONE),
        ("pairs", BAD_EXECUTOR),
        # eval checks in the API, once the suite's own setting is known: the flags reach it.
        ("eval", ADDRESS_ALONE),
    ],
)
def test_bad_executor_flags_exit_2_naming_the_flag_and_write_nothing(
    command: str, case: tuple[tuple[str, ...], str, str], tmp_path: Path
) -> None:
    flags, named, message = case
    out, db = tmp_path / "out", tmp_path / "s.db"
    result = run_cli(*_command(command, tmp_path), "--out", out, "--db", f"sqlite:///{db}", *flags)
    assert result.code == 2, result.stderr
    assert named in result.stderr and message in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() and not db.exists()


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (
            lambda out, db: cvalues.generate("openai:m", base_url=URL, out=out, db=db, executor="slurm"),
            "--executor",
        ),
        (
            lambda out, db: cvalues.mc("openai:m", base_url=URL, out=out, db=db, ray_address="auto"),
            "--ray-address",
        ),
        (
            lambda out, db: cvalues.generate(
                "openai:m", base_url=URL, out=out, db=db, executor="ray", ray_workers=0
            ),
            "--ray-workers",
        ),
        (
            lambda out, db: cvalues.evaluate("openai:m", base_url=URL, out=out, db=db, executor="slurm"),
            "--executor",
        ),
        (
            lambda out, db: cvalues.evaluate(
                "openai:m", base_url=URL, out=out, db=db, executor="ray", ray_workers=0
            ),
            "--ray-workers",
        ),
    ],
)
def test_the_python_api_checks_the_same_keywords(call, named: str, tmp_path: Path) -> None:
    out, db = tmp_path / "out", tmp_path / "s.db"
    with pytest.raises(InputError) as caught:
        call(out, f"sqlite:///{db}")
    assert caught.value.flag == named
    assert not out.exists() and not db.exists()
