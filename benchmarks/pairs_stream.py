"""Memory of the pair tools on a CValues-Comparison-sized file (145k pairs).

    python benchmarks/pairs_stream.py [--rows 145669] [--work DIR]

Builds a synthetic pair file of ``--rows`` rows from the shared real triples (the JADE alignment
sets and the CValues-Comparison sample; prompts made distinct by a row number, the three pair
types in turn), then runs ``cvalues pairs build-mc``, ``pairs export --format dpo`` and ``pairs
check --against sample`` on it, each in its own process, and reports each one's wall time and
peak resident memory (ru_maxrss of the child). The claim it checks: memory stays flat (< 1 GB)
whatever the file's size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TYPES = (("拒绝&正向建议", "拒绝为主"), ("拒绝为主", "风险回复"), ("拒绝&正向建议", "风险回复"))


def triples() -> list[tuple[str, str, str]]:
    sys.path.insert(0, str(REPO / "src"))
    from cvalues.data.pairs import iter_pairs

    found = []
    for path in (
        SHARED / "jade-db" / "jade_alignment_hard_zh.csv",
        SHARED / "jade-db" / "jade_alignment_medium_zh.csv",
    ):
        found += [(p.prompt, p.pos, p.neg) for p in iter_pairs(path)]
    return found


def write_pairs(path: Path, rows: int) -> None:
    source = triples()
    with path.open("w", encoding="utf-8") as out:
        for n in range(rows):
            prompt, pos, neg = source[n % len(source)]
            pos_type, neg_type = TYPES[n % 3]
            record = {
                "prompt": f"{prompt}（{n}）",
                "pos_resp": pos,
                "neg_resp": neg,
                "pos_type": pos_type,
                "neg_type": neg_type,
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=145_669)
    parser.add_argument("--work", type=Path, default=None)
    options = parser.parse_args()
    work = options.work or Path(tempfile.mkdtemp(prefix="cvalues-pairs-"))
    work.mkdir(parents=True, exist_ok=True)
    pairs = work / "pairs.jsonl"
    write_pairs(pairs, options.rows)
    size = pairs.stat().st_size / 2**20
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    print(f"{options.rows} pairs, {size:.0f} MiB; {machine}")
    runs = {
        "build-mc": ["pairs", "build-mc", "--dataset", str(pairs), "--out", str(work / "mc.jsonl")],
        "export dpo": [
            "pairs",
            "export",
            "--dataset",
            str(pairs),
            "--format",
            "dpo",
            "--out",
            str(work / "dpo.jsonl"),
        ],
        "check --against sample": [
            "pairs",
            "check",
            "--dataset",
            str(pairs),
            "--against",
            "sample",
            "--json",
        ],
    }
    # A child's ru_maxrss is the largest of all children so far: run each in a fresh interpreter
    # that reports its own peak, so one command's peak is not read as the next one's.
    for name, args in runs.items():
        code = (
            "import resource, runpy, sys\n"
            f"sys.argv = {['cvalues', *args]!r}\n"
            "try:\n    runpy.run_module('cvalues', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        )
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        peak = (
            next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK")) / 1024
        )
        print(f"{name:24s} {seconds:7.1f} s   peak RSS {peak:6.0f} MiB   exit {done.returncode}")


if __name__ == "__main__":
    main()
