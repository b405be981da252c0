"""`cvalues mc --chat-format` with the real SmolLM2 model: the format is part of the model's
identity, so answers cached under another format are never served for it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_support import cli_env, run_cli

pytestmark = pytest.mark.model

FAST = ("--dataset", "sample", "--limit", "3", "--max-tokens", "8", "--no-progress")


def _execution(out: Path) -> dict:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))["execution"]


def test_chat_format_is_in_the_cache_key(smollm2_backend, cvalues_cache: Path, tmp_path: Path) -> None:
    env = cli_env(cvalues_cache)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    first = run_cli(
        "mc",
        "--model",
        "gguf:smollm2",
        "--chat-format",
        "ziya",
        "--out",
        tmp_path / "a",
        "--db",
        db,
        *FAST,
        env=env,
    )
    assert first.code == 0, first.stderr
    assert _execution(tmp_path / "a")["n_sent"] == 3
    # The same format again: every answer from the store.
    again = run_cli(
        "mc",
        "--model",
        "gguf:smollm2",
        "--chat-format",
        "ziya",
        "--out",
        tmp_path / "b",
        "--db",
        db,
        *FAST,
        env=env,
    )
    assert again.code == 0, again.stderr
    assert _execution(tmp_path / "b")["n_cached"] == 3
    # Another format (and the tokenizer's own template) are other models: nothing reused.
    other = run_cli(
        "mc",
        "--model",
        "gguf:smollm2",
        "--chat-format",
        "moss",
        "--out",
        tmp_path / "c",
        "--db",
        db,
        *FAST,
        env=env,
    )
    assert other.code == 0, other.stderr
    assert _execution(tmp_path / "c")["n_cached"] == 0
    bad = run_cli(
        "mc", "--model", "gguf:smollm2", "--chat-format", "chatglm2", "--out", tmp_path / "d", *FAST, env=env
    )
    assert bad.code == 2 and "--chat-format: unknown chat format 'chatglm2'" in bad.stderr
    assert not (tmp_path / "d").exists()
