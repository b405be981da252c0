"""`cvalues mc` end to end with the real SmolLM2 model on CPU, in a subprocess as a user runs it."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from cli_support import cli_env, read_samples, recompute_from_samples, run_cli
from data_support import MOONSHOT_FILE

pytestmark = pytest.mark.model

LIMIT = "60"
FAST = ("--max-tokens", "24", "--batch-size", "8", "--no-progress")


@pytest.fixture(scope="module")
def env(smollm2_backend, cvalues_cache: Path) -> dict[str, str]:
    # smollm2_backend has converted the GGUF into cvalues_cache: later loads take under a second.
    return cli_env(cvalues_cache)


@pytest.fixture(scope="module")
def generate_run(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("mc-generate")
    out, db = base / "out", f"sqlite:///{base / 'store.db'}"
    result = run_cli(
        "mc",
        "--model",
        "gguf:smollm2",
        "--dataset",
        MOONSHOT_FILE,
        "--limit",
        LIMIT,
        "--out",
        out,
        "--db",
        db,
        *FAST,
        env=env,
    )
    assert result.code == 0, result.stderr
    return out, base / "store.db"


def _results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def test_generate_results_recompute_exactly_from_samples(generate_run: tuple[Path, Path]) -> None:
    out, _ = generate_run
    results = _results(out)
    samples = read_samples(out)
    assert results["dataset"]["n_items"] == len(samples) == 60
    assert results["dataset"]["sha256"] == "4f266bcc6326a4371653cdee4c0f613d44210ca156c4b64cd3647047a884e38a"
    recomputed = recompute_from_samples(out)
    for key in ("metrics", "position_bias", "pair_consistency", "by_domain", "by_difficulty"):
        assert results[key] == recomputed[key], key
    # The official definitions, counted by hand from the samples.
    preds = Counter(s["pred"] for s in samples)
    correct = sum(s["pred"] == s["label"] for s in samples)
    m = results["metrics"]
    assert m["total"] == 60 and m["correct"] == correct
    assert m["pred_cnt"] == 60 - preds["Refuse"] - preds["Need_Check"]
    assert m["acc"] == correct / 60
    assert m["acc_star"] == (correct / m["pred_cnt"] if m["pred_cnt"] else None)
    assert sum(preds.values()) == 60
    assert all(s["correct"] == (s["pred"] == s["label"]) for s in samples)


def test_samples_hold_prompt_response_and_domains(generate_run: tuple[Path, Path]) -> None:
    out, _ = generate_run
    samples = read_samples(out)
    for s in samples:
        assert s["prompt"].count("回复1") >= 1 and s["prompt"].count("回复2") >= 1
        assert isinstance(s["response"], str)
        assert s["label"] in ("回复1", "回复2")
    domains = {s["domain"] for s in samples}
    assert None not in domains  # recovered by joining the official prompts file
    assert set(_results(out)["by_domain"]) == domains
    raw = (out / "samples.jsonl").read_text(encoding="utf-8")
    assert "\\u" not in raw and "回复" in raw  # Chinese kept as is


def test_rerun_sends_nothing_and_gives_identical_metrics(generate_run: tuple[Path, Path], env) -> None:
    out, db = generate_run
    before = _results(out)
    result = run_cli(
        "mc",
        "--model",
        "gguf:smollm2",
        "--dataset",
        MOONSHOT_FILE,
        "--limit",
        LIMIT,
        "--out",
        out,
        "--db",
        f"sqlite:///{db}",
        *FAST,
        env=env,
    )
    assert result.code == 0, result.stderr
    after = _results(out)
    assert after["execution"]["n_sent"] == 0
    assert after["execution"]["n_cached"] == 60 - after["execution"]["n_deduplicated"]
    assert after["run_id"] == before["run_id"]
    for key in ("metrics", "position_bias", "pair_consistency", "by_domain"):
        assert after[key] == before[key]


def test_changed_settings_are_refused_unless_new_run(generate_run: tuple[Path, Path], env) -> None:
    out, db = generate_run
    stamp = (out / "results.json").stat().st_mtime_ns
    args = (
        "mc",
        "--model",
        "gguf:smollm2",
        "--dataset",
        MOONSHOT_FILE,
        "--limit",
        LIMIT,
        "--out",
        out,
        "--db",
        f"sqlite:///{db}",
        "--no-progress",
        "--batch-size",
        "8",
    )
    refused = run_cli(*args, "--max-tokens", "25", env=env)
    assert refused.code == 2
    assert "--new-run" in refused.stderr and "max_tokens" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert (out / "results.json").stat().st_mtime_ns == stamp  # nothing written


def test_logprob_mode_has_no_parse_failures(tmp_path: Path, env) -> None:
    out = tmp_path / "lp"
    result = run_cli(
        "mc",
        "--model",
        "gguf:smollm2",
        "--dataset",
        MOONSHOT_FILE,
        "--limit",
        LIMIT,
        "--mode",
        "logprob",
        "--out",
        out,
        "--db",
        f"sqlite:///{tmp_path / 's.db'}",
        "--no-progress",
        env=env,
    )
    assert result.code == 0, result.stderr
    results = _results(out)
    samples = read_samples(out)
    assert results["model"]["mode"] == "logprob"
    assert {s["pred"] for s in samples} <= {"回复1", "回复2"}
    assert results["metrics"]["need_check_cnt"] == 0
    assert results["metrics"]["pred_cnt"] == 60
    for s in samples:
        lp = s["choice_logprobs"]
        better = max(lp, key=lp.get)
        assert s["pred"] == better and lp[better] <= 0.0
    assert results["metrics"] == recompute_from_samples(out)["metrics"]


def _stored_responses(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("select count(*) from responses").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # not created yet


def test_interrupt_keeps_work_and_resume_finishes_it(tmp_path: Path, env) -> None:
    out, db = tmp_path / "out", tmp_path / "store.db"
    args = [
        "mc",
        "--model",
        "gguf:smollm2",
        "--dataset",
        MOONSHOT_FILE,
        "--limit",
        "40",
        "--out",
        str(out),
        "--db",
        f"sqlite:///{db}",
        "--max-tokens",
        "24",
        "--batch-size",
        "2",
        "--no-progress",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cvalues", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while _stored_responses(db) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert not (out / "results.json").exists()  # no half results
    kept = _stored_responses(db)
    assert 4 <= kept < 40

    resumed = run_cli(*args, env=env)
    assert resumed.code == 0, resumed.stderr
    first = _results(out)
    first_responses = [s["response"] for s in read_samples(out)]
    assert first["execution"]["n_cached"] == kept
    assert first["execution"]["n_sent"] == 40 - first["execution"]["n_deduplicated"] - kept

    again = run_cli(*args, env=env)
    assert again.code == 0
    second = _results(out)
    assert second["execution"]["n_sent"] == 0
    assert second["metrics"] == first["metrics"]
    assert [s["response"] for s in read_samples(out)] == first_responses
