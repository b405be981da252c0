"""Resume at scale: re-running a finished 1,712-item `cvalues mc` run sends nothing, does not load
the model, and returns in under 2 s (issue "Speed and scale", item 7).

One fresh store; the first run answers all 1,712 items of the CValues responsibility MC set
(logprob mode, SmolLM2 in-process); then the same command again, timed as a user sees it (the
whole `cvalues` process: interpreter start, imports, dataset reading, store lookups, screening,
scoring, output files). The re-run must report 0 requests sent, and the model is not loaded
(no weight loading in its output, and its peak RSS stays far below the model's).

    python benchmarks/resume_scale.py            # both runs (the first takes minutes on 2 cores)
    python benchmarks/resume_scale.py --repeats 5

Appends a section to benchmarks/RESULTS.md and writes benchmarks/results/resume_scale-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATASET = REPO.parent / "shared" / "data" / "cvalues-responsibility-mc-moonshot" / "cvalues.json"


def run(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """One `cvalues` process: wall time, exit code, output (CPU time: ``children_usage``)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cvalues", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - started
    return {"code": proc.returncode, "wall_s": round(wall, 3), "stdout": stdout, "stderr": stderr}


def children_usage() -> tuple[float, int]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--model", default="gguf:smollm2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="resume-scale-"))
    env = {**os.environ, "CVALUES_DB": f"sqlite:///{work / 'store.db'}", "COLUMNS": "160"}
    args = [
        "mc",
        "-m",
        options.model,
        "-d",
        str(options.dataset),
        "--mode",
        "logprob",
        "-o",
        str(work / "run"),
    ]
    load = os.getloadavg()
    first = run(args, env)
    if first["code"] != 0:
        print(first["stderr"][-3000:], file=sys.stderr)
        return 1
    results = json.loads((work / "run" / "results.json").read_text(encoding="utf-8"))
    n_items = results["dataset"]["n_items"]
    reruns = []
    for _ in range(options.repeats):
        cpu_before, _ = children_usage()
        again = run(args, env)
        cpu_after, _ = children_usage()
        execution = json.loads((work / "run" / "results.json").read_text(encoding="utf-8"))["execution"]
        reruns.append(
            {
                "code": again["code"],
                "wall_s": again["wall_s"],
                "cpu_s": round(cpu_after - cpu_before, 3),
                "n_sent": execution["n_sent"],
                "n_cached": execution["n_cached"],
                "model_loaded": "Loading weights" in again["stderr"],
            }
        )
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}",
        "load_average_start": [round(x, 2) for x in load],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "model": options.model,
        "n_items": n_items,
        "first_run_wall_s": first["wall_s"],
        "reruns": reruns,
    }
    print(json.dumps(record, ensure_ascii=False, indent=2))
    if not options.no_record:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        (HERE / "results" / f"resume_scale-{stamp}.json").write_text(
            json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        rows = "\n".join(
            f"| {i + 1} | {r['wall_s']} | {r['cpu_s']} | {r['n_sent']} | {r['n_cached']} "
            f"| {r['model_loaded']} | {r['code']} |"
            for i, r in enumerate(reruns)
        )
        section = f"""
## Resume at scale: a finished {n_items:,}-item run, re-run ({record["when"]})

`python benchmarks/resume_scale.py` — `cvalues mc -m {options.model} --mode logprob` on the CValues
responsibility MC set ({n_items:,} items), fresh SQLite store; first run {first["wall_s"]} s; then the same
command {options.repeats}×, each a whole `cvalues` process (interpreter start, imports, dataset, store
lookups, context screen, scoring, output files).
Machine: {record["machine"]}; load average {record["load_average_start"]} at start,
{record["load_average_end"]} at end.

| re-run | wall (s) | CPU (s) | requests sent | served from the store | model loaded | exit |
| --- | --- | --- | --- | --- | --- | --- |
{rows}
"""
        with (HERE / "RESULTS.md").open("a", encoding="utf-8") as handle:
            handle.write(section)
    ok = all(r["n_sent"] == 0 and not r["model_loaded"] and r["code"] == 0 for r in reruns)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
