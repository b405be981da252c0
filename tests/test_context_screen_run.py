"""A run screens its prompts against the model's context window before any request (issue:
a 5-million-character prompt was sent to SmolLM2 and died in the CPU allocator after a minute).

Real parts: the SmolLM2 GGUF (window 8,192 from its metadata, its vocabulary for counts), the
transformers backend the session converts once, and the ``cvalues generate`` command."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tests.cli_support import cli_env, read_samples, run_cli

from cvalues import api
from cvalues.core.requests import SKIPPED_PREFIX, is_skipped

pytestmark = pytest.mark.model

HUGE_CHARS = 5_000_000


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two ordinary prompts around one of five million characters (15 MB of UTF-8)."""
    path = tmp_path_factory.mktemp("screen") / "prompts.jsonl"
    rows = [
        {"id": "short-1", "prompt": "你好，请介绍一下你自己。"},
        {"id": "huge", "prompt": "好" * HUGE_CHARS},
        {"id": "short-2", "prompt": "今天天气怎么样？"},
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def generate(backend: Any, prompts: Path, out: Path, **options: Any) -> Any:
    return api.generate(
        "gguf:smollm2",
        str(prompts),
        out=out,
        db=f"sqlite:///{out.parent / 'store.db'}",
        backend=backend,
        max_tokens=2,
        progress=False,
        **options,
    )


def stored_responses(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        (count,) = connection.execute("SELECT count(*) FROM responses").fetchone()
    return int(count)


def test_an_item_over_the_window_is_skipped_with_its_reason_and_nothing_is_sent_for_it(
    smollm2_backend: Any, prompts: Path, tmp_path: Path
) -> None:
    results = generate(smollm2_backend, prompts, tmp_path / "run")
    execution = results.execution
    assert execution is not None
    assert (execution.n_skipped, execution.n_truncated, execution.n_failed) == (1, 0, 0)
    assert execution.n_sent == 2 and execution.context_window == 8192
    samples = {s["id"]: s for s in read_samples(tmp_path / "run")}
    assert is_skipped(samples["huge"]["error"])
    assert "8,192" in samples["huge"]["error"] and "--truncate" in samples["huge"]["error"]
    assert samples["short-1"]["error"] is None and samples["short-2"]["error"] is None
    # Counted apart from failures, in the metrics as in the run's status.
    metrics = results.to_json()["metrics"]
    assert metrics["n_skipped"] == 1 and metrics["n_failed"] == 0
    assert results.failed_requests == 0
    assert stored_responses(tmp_path / "store.db") == 2  # nothing asked, nothing stored for "huge"
    # A re-run screens again and sends nothing: the two answers are in the store.
    again = generate(smollm2_backend, prompts, tmp_path / "run")
    assert again.execution is not None and (again.execution.n_sent, again.execution.n_skipped) == (0, 1)


@pytest.mark.parametrize("side", ["left", "right"])
def test_truncate_cuts_the_long_prompt_and_every_item_is_answered(
    smollm2_backend: Any, prompts: Path, tmp_path: Path, side: str
) -> None:
    # A 256-token window (a server started small) keeps the model's work small: the cut prompt
    # is prefilled for real.
    results = generate(smollm2_backend, prompts, tmp_path / side, truncate=side, context_window=256)
    execution = results.execution
    assert execution is not None
    assert (execution.n_skipped, execution.n_truncated, execution.n_failed, execution.n_sent) == (0, 1, 0, 3)
    assert execution.context_window == 256
    samples = {s["id"]: s for s in read_samples(tmp_path / side)}
    assert all(s["error"] is None for s in samples.values())
    # What the model was asked: the cut prompt, within the window with the reply's 2 tokens.
    with sqlite3.connect(tmp_path / "store.db") as connection:
        tokens = [n for (n,) in connection.execute("SELECT input_tokens FROM responses")]
    assert len(tokens) == 3 and max(tokens) <= 256 - 2 and max(tokens) > 200


def test_the_command_reports_the_skip_before_the_run_and_exits_0(
    smollm2_backend: Any, cvalues_cache: Path, prompts: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cli"
    env = cli_env(cvalues_cache, CVALUES_DB=f"sqlite:///{tmp_path / 'cli.db'}")
    result = run_cli("generate", "-m", "gguf:smollm2", "-d", prompts, "--max-tokens", "2", "-o", out, env=env)
    assert result.code == 0, result.stderr[-2000:]
    first = result.stderr.index("1 item(s) skipped: longer than the context window (8,192 tokens)")
    assert first < result.stderr.index("generate"), "the skip is announced before the progress of the run"
    assert "--truncate left|right" in result.stderr
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["execution"]["n_skipped"] == 1
    assert sum(str(s["error"]).startswith(SKIPPED_PREFIX) for s in read_samples(out) if s["error"]) == 1
    bad = run_cli("generate", "-m", "gguf:smollm2", "-d", prompts, "--truncate", "middle", "-o", out, env=env)
    assert bad.code == 2 and "--truncate" in bad.stderr and "left or right" in bad.stderr
