"""Drill: SIGKILL a `cvalues generate` run at random moments, resume it, and compare with a run
that was never interrupted.

Both runs send `--max-tokens 1` chat requests to a real llama.cpp server (llama-cpp-python,
SmolLM2-135M Q4_1) through a counting proxy on loopback: one token a reply is the cheapest real
request on 2 cores, and the drill is about the store and resume, not the model. The killed run is
started again after each kill (the same command), `--kills` times, then run to the end. The kill
moments are drawn uniformly over the first 90% of the uninterrupted run's request time and counted
in request time (from each restart's first request, summed over restarts), so they fall across the
whole run, not during start-up. Checked:

- lost: items of the dataset without a stored reply in the final samples.jsonl / run_items (must be 0);
- duplicated: rows per request hash in the store's `responses` and per item in `run_items` (must be 1);
- identical: the final metrics and every reply equal the uninterrupted run's;
- re-sent: requests the server saw more than once (in flight at a kill; reported, not a failure).

    python benchmarks/drill_sigkill.py                       # 1,000 items, 20 kills
    python benchmarks/drill_sigkill.py --n 60 --kills 4 --no-record
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from drill_support import machine, record_section  # noqa: E402

from cvalues.models.smollm2 import smollm2_gguf_path  # noqa: E402
from faulty_proxy import FaultyProxy  # noqa: E402
from servers import SERVER_MODEL_ALIAS, start_llama_server, stop_server  # noqa: E402


def write_dataset(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            row = {"id": f"q{i}", "prompt": f"第{i}题：{i} 乘以 {i % 9} 等于多少？"}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def command(base_url: str, dataset: Path, out: Path, db: Path, concurrency: int) -> list[str]:
    return [
        sys.executable, "-m", "cvalues", "generate", "--model", f"openai:{SERVER_MODEL_ALIAS}",
        "--base-url", base_url, "--dataset", str(dataset), "--max-tokens", "1",
        "--concurrency", str(concurrency), "--out", str(out), "--db", f"sqlite:///{db}", "--no-progress",
    ]  # fmt: skip


def run_to_end(cmd: list[str], env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, encoding="utf-8", timeout=3600)
    return done.returncode, done.stderr[-2000:]


def kill_at_random(
    cmd: list[str], env: dict[str, str], moments: list[float], counting: FaultyProxy, db: Path
) -> dict:
    """Kill the run once at each of ``moments``: seconds of *request time* (counted from each
    restart's first request, summed over restarts), so the kills fall across the whole run and not
    during Python's start-up, which takes seconds on a loaded machine and proves nothing."""
    done_at_kill, finished_before_kill, spent = [], 0, 0.0
    killed_at = []
    for moment in moments:
        before = counting.attempts
        process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while counting.attempts == before and process.poll() is None:
            time.sleep(0.02)
        first_request = time.perf_counter()
        time.sleep(max(0.05, moment - spent))
        if process.poll() is not None:
            finished_before_kill += 1
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        spent += time.perf_counter() - first_request
        killed_at.append(round(spent, 2))
        done_at_kill.append(stored_replies(db))
    return {
        "kill_moments_s": killed_at,
        "replies_stored_at_each_kill": done_at_kill,
        "finished_before_a_kill": finished_before_kill,
    }


def kill_moments(rng: random.Random, kills: int, request_time_s: float, window: float | None) -> list[float]:
    """``kills`` moments drawn uniformly over the first 90% of the uninterrupted run's request time
    (sorted), or, with ``window``, each ``uniform(0.1, window)`` s after the previous one."""
    if window is not None:
        moments, at = [], 0.0
        for _ in range(kills):
            at += rng.uniform(0.1, window)
            moments.append(at)
        return moments
    return sorted(rng.uniform(0.0, 0.9 * request_time_s) for _ in range(kills))


def stored_replies(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        try:
            return con.execute("SELECT count(*) FROM responses WHERE error IS NULL").fetchone()[0]
        except sqlite3.OperationalError:  # killed before the schema was created
            return 0


def store_counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as con:
        responses = con.execute("SELECT count(*), count(DISTINCT request_hash) FROM responses").fetchone()
        failed = con.execute("SELECT count(*) FROM responses WHERE error IS NOT NULL").fetchone()[0]
        items = con.execute(
            "SELECT count(*), count(DISTINCT run_id || ':' || item_key) FROM run_items"
        ).fetchone()
        runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    return {
        "responses": responses[0], "distinct_request_hashes": responses[1], "failed_responses": failed,
        "run_items": items[0], "distinct_run_items": items[1], "runs": runs,
    }  # fmt: skip


def sample_rows(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "samples.jsonl").read_text(encoding="utf-8").splitlines()]


def replies(out: Path) -> dict[object, object]:
    return {row["id"]: row.get("response") for row in sample_rows(out)}


def metrics(out: Path) -> dict[str, object]:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))["metrics"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument(
        "--window",
        type=float,
        default=None,
        help="Kill uniform(0.1, WINDOW) s of request time after the previous kill (default: kills "
        "spread uniformly over the uninterrupted run's request time).",
    )
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="drill-sigkill-"))
    dataset = work / "prompts.jsonl"
    write_dataset(dataset, args.n)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CVALUES_")}
    server = start_llama_server(smollm2_gguf_path(), work / "server.log")
    try:
        with FaultyProxy(server.root_url, faults=[], methods=("POST",)) as counting:
            started = time.perf_counter()
            code_a, err_a = run_to_end(command(counting.base_url, dataset, work / "a", work / "a.db", 4), env)
            uninterrupted_s = time.perf_counter() - started
            sent_a = counting.attempts
            request_time_s = counting.arrivals[-1] - counting.arrivals[0] if sent_a > 1 else 1.0
        moments = kill_moments(random.Random(args.seed), args.kills, request_time_s, args.window)
        with FaultyProxy(server.root_url, faults=[], methods=("POST",)) as counting:
            cmd = command(counting.base_url, dataset, work / "b", work / "b.db", args.concurrency)
            started = time.perf_counter()
            kills = kill_at_random(cmd, env, moments, counting, work / "b.db")
            code_b, err_b = run_to_end(cmd, env)
            killed_s = time.perf_counter() - started
            sent_b = counting.attempts
    finally:
        stop_server(server)
    a, b = replies(work / "a"), replies(work / "b")
    counts = store_counts(work / "b.db")
    report = {
        "n": args.n,
        "kills": len(kills["kill_moments_s"]),
        **kills,
        "exit_codes": {"uninterrupted": code_a, "killed_then_resumed": code_b},
        "stderr_tail": {"uninterrupted": err_a, "killed_then_resumed": err_b} if code_a or code_b else {},
        "requests_sent": {"uninterrupted": sent_a, "killed_then_resumed": sent_b},
        "re_sent": sent_b - args.n,
        "store": counts,
        "lost": sum(1 for key in a if key not in b or b[key] is None),
        "duplicated": (counts["responses"] - counts["distinct_request_hashes"])
        + (counts["run_items"] - counts["distinct_run_items"])
        + sum(c - 1 for c in Counter(row["id"] for row in sample_rows(work / "b")).values()),
        "replies_differing": sum(1 for key in a if a[key] != b.get(key)),
        "metrics_identical": metrics(work / "a") == metrics(work / "b"),
        "seconds": {
            "uninterrupted": round(uninterrupted_s, 1),
            "uninterrupted_request_time": round(request_time_s, 1),
            "killed_then_resumed": round(killed_s, 1),
        },
        "machine": machine(),
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    ok = (
        code_a == code_b == 0
        and report["lost"] == 0
        and report["duplicated"] == 0
        and report["replies_differing"] == 0
        and report["metrics_identical"]
        and counts["distinct_run_items"] == args.n
    )
    if not args.no_record:
        record_section("drill_sigkill", report, _markdown(report, ok))
    return 0 if ok else 1


def _markdown(report: dict, ok: bool) -> str:
    return (
        f"`cvalues generate --max-tokens 1` over {report['n']:,} prompts against llama-cpp-python's server "
        f"(SmolLM2-135M Q4_1) through a counting proxy; SIGKILL {report['kills']} times at random moments "
        f"(s of request time, summed over restarts: {report['kill_moments_s']}; replies stored at each "
        f"kill: {report['replies_stored_at_each_kill']}), then the same command to the end; compared "
        "with an uninterrupted run of the same command.\n\n"
        "| check | result |\n| --- | --- |\n"
        f"| lost items | {report['lost']} |\n"
        f"| duplicated (store responses, run_items, samples) | {report['duplicated']} |\n"
        f"| replies differing from the uninterrupted run | {report['replies_differing']} |\n"
        f"| metrics identical | {report['metrics_identical']} |\n"
        f"| requests re-sent (in flight at a kill) | {report['re_sent']} |\n"
        f"| store rows: responses / run_items / runs | {report['store']['responses']} / "
        f"{report['store']['run_items']} / {report['store']['runs']} |\n"
        f"| exit codes (uninterrupted, resumed) | {report['exit_codes']['uninterrupted']}, "
        f"{report['exit_codes']['killed_then_resumed']} |\n"
        f"| wall time (uninterrupted, killed+resumed) | {report['seconds']['uninterrupted']} s, "
        f"{report['seconds']['killed_then_resumed']} s |\n\n"
        f"Verdict: {'pass' if ok else 'FAIL'}."
    )


if __name__ == "__main__":
    raise SystemExit(main())
