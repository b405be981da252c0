"""Summarise the per-test timings that ``CVALUES_TEST_CPU_LOG=FILE pytest ...`` writes (tests/conftest.py).

    CVALUES_TEST_CPU_LOG=/tmp/times.jsonl pytest -q -m "not vllm"
    python scripts/test_times.py /tmp/times.jsonl                  # totals and the 20 costliest phases
    python scripts/test_times.py /tmp/before.jsonl /tmp/after.jsonl  # the same tests, before and after

CPU seconds (the test process and the subprocesses it waited for) are what a test costs; wall seconds
also say how busy the machine was. On the shared 2-core machine the two differ by up to 15 times, so
compare CPU seconds across runs made under different loads.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def load(path: Path) -> dict[str, dict[str, list[float]]]:
    rows: dict[str, dict[str, list[float]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            row.pop("outcome", None)
            rows[row.pop("test")] = row
    return rows


def one_run(rows: dict[str, dict[str, list[float]]], top: int) -> None:
    cpu = sum(row["total"][0] for row in rows.values())
    wall = sum(row["total"][1] for row in rows.values())
    print(f"{len(rows)} tests: {cpu:.1f} CPU s, {wall:.1f} wall s (collection not included)")
    phases = [
        (times[0], times[1], phase, test)
        for test, row in rows.items()
        for phase, times in row.items()
        if phase != "total"
    ]
    print(f"{'CPU s':>8} {'wall s':>8}  phase     test")
    for cpu_s, wall_s, phase, test in sorted(phases, reverse=True)[:top]:
        print(f"{cpu_s:8.2f} {wall_s:8.2f}  {phase:9s} {test}")


def two_runs(
    before: dict[str, dict[str, list[float]]], after: dict[str, dict[str, list[float]]], top: int
) -> None:
    common = [test for test in before if test in after]
    totals = [sum(run[test]["total"][i] for test in common) for run in (before, after) for i in (0, 1)]
    print(
        f"{len(common)} tests in both runs: CPU {totals[0]:.1f} s -> {totals[2]:.1f} s, "
        f"wall {totals[1]:.1f} s -> {totals[3]:.1f} s"
    )
    print(f"{'CPU before':>10} {'CPU after':>10} {'wall before':>11} {'wall after':>10}  test")
    for test in sorted(common, key=lambda name: -before[name]["total"][0])[:top]:
        b, a = before[test]["total"], after[test]["total"]
        print(f"{b[0]:10.2f} {a[0]:10.2f} {b[1]:11.2f} {a[1]:10.2f}  {test}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logs", nargs="+", type=Path, help="one log, or two (before, after)")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    if len(args.logs) == 1:
        one_run(load(args.logs[0]), args.top)
    elif len(args.logs) == 2:
        two_runs(load(args.logs[0]), load(args.logs[1]), args.top)
    else:
        parser.error("give one log, or two (before, after)")


if __name__ == "__main__":
    main()
