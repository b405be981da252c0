"""The pair tools stream: peak memory does not grow with the file (benchmarks/pairs_stream.py
records the full 145k-row figure in benchmarks/RESULTS.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _peaks(rows: int, work: Path) -> dict[str, float]:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "pairs_stream.py"),
            "--rows",
            str(rows),
            "--work",
            str(work),
            "--no-score",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.findall(r"^(\S.*?)\s+[\d.]+ s\s+peak RSS\s+(\d+) MiB\s+exit 0$", done.stdout, re.MULTILINE)
    assert len(found) == 3, done.stdout + done.stderr
    return {name: float(peak) for name, peak in found}


def test_memory_stays_flat_from_two_thousand_to_twenty_thousand_pairs(tmp_path: Path) -> None:
    small, large = _peaks(2_000, tmp_path / "small"), _peaks(20_000, tmp_path / "large")
    for name, peak in large.items():
        assert peak < 1024, (name, peak)
        assert peak - small[name] < 40, f"{name}: {small[name]:.0f} MiB at 2k pairs, {peak:.0f} MiB at 20k"
