"""A small run of each drill in benchmarks/ (the full ones: 1,000+ items, 20 kills; 2,000 requests).

Each drill starts its own llama.cpp server and prints a JSON report; the figures asserted are the
drill's own pass conditions, so a drill that stopped checking would fail here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.server]


def drill(script: str, *args: str) -> tuple[int, dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args, "--no-record"],
        capture_output=True, text=True, encoding="utf-8", env=env, timeout=1500,
    )  # fmt: skip
    start = done.stdout.find("{")
    assert start >= 0, done.stderr[-3000:]
    return done.returncode, json.loads(done.stdout[start:])


def test_sigkill_at_random_moments_loses_and_duplicates_nothing() -> None:
    code, report = drill("drill_sigkill.py", "--n", "24", "--kills", "3")
    assert code == 0, report
    # The kill moments fall within the first 90% of the uninterrupted run's request time; a restart
    # on a suddenly idle machine may still finish first, which the drill reports (and stops there).
    assert report["kills"] >= 1 and (report["kills"] == 3 or report["finished_before_a_kill"] == 1)
    assert len(report["replies_stored_at_each_kill"]) == report["kills"]
    assert report["lost"] == 0 and report["duplicated"] == 0
    assert report["metrics_identical"] and report["replies_differing"] == 0
    assert report["store"]["distinct_run_items"] == 24 and report["store"]["runs"] == 1


def test_faults_on_every_attempt_kind_leave_nothing_silently_wrong() -> None:
    code, report = drill("drill_faults.py", "--n", "40", "--max-tokens", "1", "--concurrency", "4")
    assert code == 0, report
    assert report["silently_wrong"] == 0
    assert sum(report["outcome"].values()) == 40
    assert set(report["outcome"]) <= {"answered, same as unproxied", "explicitly failed"}
    injected = report["injected"]
    assert sum(v for k, v in injected.items() if k != "forwarded") >= 5  # faults really happened
