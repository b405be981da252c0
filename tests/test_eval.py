"""``cvalues eval`` with the real SmolLM2 on the bundled sample suite, and the same from Python.

One run of the whole suite (a couple of minutes on 2 cores); the re-run, the API calls inside a
running event loop and the async API then answer from the store, which is what they must do.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import cvalues
from cli_support import cli_env, run_cli
from cvalues.report.loading import load_runs, verify_run

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def evaluated(
    tmp_path_factory: pytest.TempPathFactory, smollm2_gguf: Path, cvalues_cache: Path
) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("eval")
    db = f"sqlite:///{base / 'store.db'}"
    out = base / "sample"
    env = cli_env(cvalues_cache)
    args = (
        "eval",
        "--model",
        f"gguf:{smollm2_gguf}",
        "--suite",
        "sample",
        "--out",
        out,
        "--db",
        db,
        "--no-progress",
    )
    first = run_cli(*args, env=env, cwd=base)
    again = run_cli(*args, env=env, cwd=base)
    return {"out": out, "db": db, "first": first, "again": again, "model": f"gguf:{smollm2_gguf}", "env": env}


def _summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_eval_writes_the_summary_every_run_and_the_report(evaluated: dict[str, Any]) -> None:
    first, out = evaluated["first"], evaluated["out"]
    assert first.code == 0, first.stderr[-2000:]
    assert "report.html" in first.stdout and "Level-2 MC acc" in first.stdout
    summary = _summary(out)
    assert summary["model"]["spec"] == evaluated["model"]
    finished = {name for name, task in summary["tasks"].items() if task["status"] == "finished"}
    assert finished == {
        "mc-l1",
        "mc-l2",
        "mc-l1-logprob",
        "mc-l2-logprob",
        "gen-l1",
        "gen-l2",
        "gen-over-refusal",
    }
    assert {summary["tasks"][name]["status"] for name in ("judge-l1-safety", "judge-l2-responsibility")} == {
        "skipped"
    }
    for name in ("mc-l1", "mc-l2"):
        metrics = summary["tasks"][name]["metrics"]
        assert metrics["acc_ci"] is not None and metrics["total"] == {"mc-l1": 16, "mc-l2": 48}[name]
    assert summary["row"]["safety"]["needs"] == "--judge"
    assert summary["row"]["over_refusal"]["n"] == 36 and summary["row"]["over_refusal"]["ci"] is not None
    runs = load_runs([out / name for name in finished]).runs
    assert len(runs) == len(finished) and all(verify_run(run).ok is not False for run in runs)
    assert (out / "report.html").stat().st_size > 10_000


def test_eval_rerun_sends_no_request(evaluated: dict[str, Any]) -> None:
    again = evaluated["again"]
    assert again.code == 0, again.stderr[-2000:]
    sent = [
        task["execution"]["n_sent"]
        for task in _summary(evaluated["out"])["tasks"].values()
        if task.get("execution")
    ]
    assert len(sent) == 7 and sum(sent) == 0


def test_the_python_api_gives_the_cli_metrics_in_and_out_of_an_event_loop(evaluated: dict[str, Any]) -> None:
    out, db, model = evaluated["out"], evaluated["db"], evaluated["model"]
    cli = {name: task["metrics"] for name, task in _summary(out)["tasks"].items() if "metrics" in task}

    async def notebook_cell() -> Any:  # a running loop, as in Jupyter
        return cvalues.evaluate(model, "sample", out=out, db=db, progress=False)

    async def async_code() -> Any:
        return await cvalues.evaluate_async(model, "sample", out=out, db=db, progress=False)

    for result in (asyncio.run(notebook_cell()), asyncio.run(async_code())):
        assert {name: r.metrics.model_dump(mode="json") for name, r in result.tasks.items()} == cli
        assert result.tasks["mc-l2"].metrics.acc_ci == cli["mc-l2"]["acc_ci"]
        assert len(result.tasks["mc-l2"].samples) == 48
