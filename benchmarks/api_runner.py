"""The API runner against its peers: cvalues, lm-eval and inspect_ai on the same server, one run.

Part 1, an instant server (``api_peers/instant_server.py``: FastAPI + uvicorn, answers at once):
each tool sends the same N distinct chat prompts at the same concurrency; the clock measures
the client. cvalues runs its real CLI path (``cvalues generate`` with a fresh SQLite store, in
``api_peers/cvalues_driver.py``); lm-eval its ``local-chat-completions`` model
(``generate_until``, ``num_concurrent``); inspect_ai an ``eval`` of a ``generate()`` task with
the ``openai`` provider (``responses_api=false``, ``max_connections``). Then cvalues re-runs
the same command (resume): the server must see no request. Each tool's row gives items/s and
CPU per request over its timed call, and the CPU of its whole process (interpreter start to exit,
from getrusage, the same measure for every tool); cvalues' request phase (the executor inside
the command, the part lm-eval's ``generate_until`` corresponds to) is given apart.

Part 2, a real llama.cpp server (SmolLM2-135M GGUF, as in the tests) where the server is the
limit: fewer prompts, short ``max_tokens``; the three should be about equal.

Part 3, the store at resume scale: 10,000 stored answers looked up by hash
(``Store.get_responses``) and a 10,000-request ``execute`` served wholly from the store.

The peers are not cvalues dependencies: install them in their own virtualenv and pass its
python (``--peer-python``), e.g.
``python3 -m venv /tmp/peers && /tmp/peers/bin/pip install inspect-ai lm-eval``.

    python benchmarks/api_runner.py --peer-python /tmp/peers/bin/python
    python benchmarks/api_runner.py --peer-python ... --n 1000 --repeats 3 --no-llama --no-record
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = HERE / "api_peers"
sys.path.insert(0, str(ROOT / "tests"))  # tests/servers.py starts the llama.cpp server

# Benign, distinct prompts: the benchmark measures transport, not the data.
PROMPT = "第{i}个问题：请谈谈普通人在网上应该怎样保护自己的个人隐私？"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peer-python", help="python of the venv with inspect-ai and lm-eval")
    parser.add_argument("--inspect-python", help="python with inspect-ai (default: --peer-python)")
    parser.add_argument("--lm-eval-python", help="python with lm-eval (default: --peer-python)")
    parser.add_argument("--n", type=int, default=1000, help="prompts for the instant server")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each tool (median reported)")
    parser.add_argument("--llama", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--llama-n", type=int, default=48)
    parser.add_argument("--llama-max-tokens", type=int, default=8)
    parser.add_argument("--lookups", type=int, default=10_000, help="stored answers for the resume figure")
    parser.add_argument("--record", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--peer-timeout", type=float, default=600, help="seconds before a peer's run is stopped"
    )
    args = parser.parse_args()
    inspect_py = args.inspect_python or args.peer_python
    lm_eval_py = args.lm_eval_python or args.peer_python

    started = datetime.now(UTC)
    load_start = os.getloadavg()
    report: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "load_start": load_start,
        "args": vars(args),
    }
    with tempfile.TemporaryDirectory(prefix="cvalues-api-bench-") as tmp_name:
        tmp = Path(tmp_name)
        report["instant"] = instant_part(args, tmp, inspect_py, lm_eval_py)
        if args.llama:
            report["llama"] = llama_part(args, tmp, inspect_py, lm_eval_py)
        report["store"] = store_part(args.lookups, tmp)
    report["load_end"] = os.getloadavg()
    print(json.dumps(report, ensure_ascii=False, indent=2))
    if args.record:
        record(report)


# -- part 1: the instant server -------------------------------------------------------------------


def instant_part(args: argparse.Namespace, tmp: Path, inspect_py: str | None, lm_eval_py: str | None) -> dict:
    prompts = write_prompts(tmp / "prompts.jsonl", args.n)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(PEERS / "instant_server.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    root = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{root}/v1/models")
        runs = compare_tools(
            args, tmp, root + "/v1", "instant", prompts, args.max_tokens, inspect_py, lm_eval_py
        )
        # Resume: the same command on the last cvalues store; the server counts what it sends.
        last = runs["cvalues"][-1]
        runs["resume"] = run_cvalues(
            args, root + "/v1", "instant", prompts, args.max_tokens, last["db"], last["out"], f"{root}/stats"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    return runs


# -- part 2: llama.cpp ---------------------------------------------------------------------------


def llama_part(args: argparse.Namespace, tmp: Path, inspect_py: str | None, lm_eval_py: str | None) -> dict:
    from cvalues.models.smollm2 import smollm2_gguf_path
    from servers import SERVER_MODEL_ALIAS, start_llama_server, stop_server

    prompts = write_prompts(tmp / "llama-prompts.jsonl", args.llama_n)
    server = start_llama_server(smollm2_gguf_path(), tmp / "llama.log")
    try:
        one = argparse.Namespace(**{**vars(args), "repeats": 1})
        return compare_tools(
            one,
            tmp,
            server.base_url,
            SERVER_MODEL_ALIAS,
            prompts,
            args.llama_max_tokens,
            inspect_py,
            lm_eval_py,
        )
    finally:
        stop_server(server)


def compare_tools(
    args: argparse.Namespace,
    tmp: Path,
    base_url: str,
    model: str,
    prompts: Path,
    max_tokens: int,
    inspect_py: str | None,
    lm_eval_py: str | None,
) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {"cvalues": [], "lm-eval": [], "inspect_ai": []}
    for repeat in range(args.repeats):  # interleaved, so that a change of machine load hits all three
        where = tmp / f"{model}-{repeat}"
        where.mkdir()
        runs["cvalues"].append(
            run_cvalues(
                args, base_url, model, prompts, max_tokens, f"sqlite:///{where}/store.db", str(where / "out")
            )
        )
        common = [
            "--base-url",
            base_url,
            "--prompts",
            str(prompts),
            "--concurrency",
            str(args.concurrency),
            "--max-tokens",
            str(max_tokens),
            "--model",
            model,
        ]
        if lm_eval_py:
            runs["lm-eval"].append(
                run_driver(
                    [lm_eval_py, str(PEERS / "lm_eval_driver.py"), *common], timeout_s=args.peer_timeout
                )
            )
        if inspect_py:
            runs["inspect_ai"].append(
                run_driver(
                    [inspect_py, str(PEERS / "inspect_driver.py"), *common, "--log-dir", str(where / "logs")],
                    timeout_s=args.peer_timeout,
                )
            )
    return runs


def run_cvalues(
    args: argparse.Namespace,
    base_url: str,
    model: str,
    prompts: Path,
    max_tokens: int,
    db: str,
    out: str,
    stats_url: str | None = None,
) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [
        sys.executable,
        str(PEERS / "cvalues_driver.py"),
        "--base-url",
        base_url,
        "--prompts",
        str(prompts),
        "--db",
        db,
        "--out",
        out,
        "--concurrency",
        str(args.concurrency),
        "--max-tokens",
        str(max_tokens),
        "--model",
        model,
        *(["--stats-url", stats_url] if stats_url else []),
    ]
    return {**run_driver(command, env=env), "db": db, "out": out}


def run_driver(command: list[str], env: dict[str, str] | None = None, timeout_s: float = 1800) -> dict:
    """One tool's run; a crash or a run past ``timeout_s`` is recorded as failed, not fatal.

    ``process_cpu_s``: the CPU time of the driver's whole process (interpreter start, imports,
    set-up, the timed call, exit), the same measure for every tool.
    """
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    before = _children_cpu_s()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"failed": f"did not finish in {timeout_s:g} s (stopped)", "load_before": load}
    process_wall = time.perf_counter() - t0
    process_cpu = _children_cpu_s() - before
    if done.returncode != 0:
        return {
            "failed": f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}",
            "load_before": load,
        }
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "process_wall_s": process_wall, "process_cpu_s": process_cpu, "load_before": load}


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- part 3: the store at resume scale -------------------------------------------------------------


def store_part(n: int, tmp: Path) -> dict:
    from sqlalchemy import event

    from cvalues.core.backend import ModelSpec
    from cvalues.core.requests import GenerationSettings, Message, ModelRequest, ModelResponse, request_hash
    from cvalues.execute import execute
    from cvalues.models.openai_backend import OpenAIBackend
    from cvalues.store import open_store

    settings = GenerationSettings(max_tokens=16)
    spec = ModelSpec("openai", "stored", base_url=f"http://127.0.0.1:{free_port()}/v1")  # nothing listens
    requests = [ModelRequest(messages=(Message("user", PROMPT.format(i=i)),)) for i in range(n)]
    hashes = [request_hash(spec.key, settings, r) for r in requests]
    with open_store(f"sqlite:///{tmp}/lookups.db") as store:
        t0 = time.perf_counter()
        for start in range(0, n, 1000):
            store.save_responses(
                [
                    (h, spec.key, r, ModelResponse(text="好的。", latency_s=0.01))
                    for h, r in zip(hashes[start : start + 1000], requests[start : start + 1000], strict=True)
                ]
            )
        save_s = time.perf_counter() - t0
        statements: list[str] = []
        event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        t0 = time.perf_counter()
        found = store.get_responses(hashes)
        lookup_s = time.perf_counter() - t0
        n_lookup_statements = len(statements)

        async def resume() -> Any:
            backend = OpenAIBackend(spec, max_retries=0)
            try:
                return await execute(requests, backend, settings, store, progress=False)
            finally:
                await backend.aclose()

        t0 = time.perf_counter()
        result = asyncio.run(resume())
        execute_s = time.perf_counter() - t0
    return {
        "n": n,
        "save_s": save_s,
        "lookup_s": lookup_s,
        "found": len(found),
        "lookup_statements": n_lookup_statements,
        "execute_s": execute_s,
        "execute_cached": result.n_cached,
        "execute_sent": result.n_sent,
    }


# -- helpers --------------------------------------------------------------------------------------


def write_prompts(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"q{i}", "prompt": PROMPT.format(i=i)}, ensure_ascii=False) + "\n")
    return path


def free_port() -> int:
    from servers import free_port as pick

    return pick()


def wait_ready(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout_s} s")


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo", encoding="utf-8") as info:
        cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.system(),
    }


def summary(runs: list[dict]) -> dict:
    """Median items/s over the runs (in-process wall), and median CPU ms per request."""
    failed = [r["failed"] for r in runs if "failed" in r]
    runs = [r for r in runs if "failed" not in r]
    if not runs:
        return {"failed": failed} if failed else {}
    rates = [r["items"] / r["wall_s"] for r in runs]
    cpu = [1000 * r["cpu_s"] / r["items"] for r in runs]
    process_cpu = [1000 * r["process_cpu_s"] / r["items"] for r in runs if "process_cpu_s" in r]
    return {
        "items_s": statistics.median(rates),
        "rates": rates,
        "cpu_ms": statistics.median(cpu),
        "cpu_runs": cpu,
        "process_cpu_ms": statistics.median(process_cpu) if process_cpu else None,
        "transport": runs[0].get("transport"),
        "phase_items_s": _median_or_none(
            [r["items"] / r["requests_wall_s"] for r in runs if r.get("requests_wall_s")]
        ),
        "phase_cpu_ms": _median_or_none(
            [1000 * r["requests_cpu_s"] / r["items"] for r in runs if r.get("requests_cpu_s") is not None]
        ),
        "answered": min(r["answered"] for r in runs),
        "items": runs[0]["items"],
        "version": runs[0].get("version"),
        "load": [round(r["load_before"], 1) for r in runs],
        "failed": failed,
    }


def _median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def record(report: dict) -> None:
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    stamp = report["started"].replace(":", "").replace("-", "")[:13]
    (results / f"api_runner-{stamp}.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2), "utf-8"
    )
    a = report["args"]
    lines = [
        f"\n## API runner vs lm-eval and inspect_ai ({report['started'][:16].replace('T', ' ')} UTC)\n",
        f"`python benchmarks/api_runner.py` — {a['n']} distinct chat prompts, "
        f"concurrency {a['concurrency']}, "
        f"max_tokens {a['max_tokens']}, median of {a['repeats']} interleaved runs per tool.",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, Python "
        f"{report['machine']['python']}; "
        f"load average at start {[round(x, 2) for x in report['load_start']]}, "
        f"at end {[round(x, 2) for x in report['load_end']]} (other jobs share these cores).\n",
    ]
    for part, title in (
        ("instant", "instant-answer server (FastAPI + uvicorn, same machine)"),
        ("llama", "llama.cpp server, SmolLM2-135M Q4 (the server is the limit)"),
    ):
        if part not in report:
            continue
        runs = report[part]
        s = {tool: summary(runs[tool]) for tool in ("cvalues", "lm-eval", "inspect_ai")}
        ours = s["cvalues"]["items_s"]
        lines += [
            f"**{title}**\n",
            "| tool | version | items | answered | items/s (median) | runs (items/s) | "
            "client CPU ms/request, timed call (median; runs) | whole-process CPU ms/request | "
            "cvalues ÷ tool (items/s) | load before each run |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for tool, t in s.items():
            if not t:
                continue
            if "items_s" not in t:
                lines.append(f"| {tool} | | | | failed: {'; '.join(t['failed'])} | | | | | |")
                continue
            ratio = ours / t["items_s"]
            process = "" if t["process_cpu_ms"] is None else f"{t['process_cpu_ms']:.2f}"
            lines.append(
                f"| {tool} | {t['version']} | {t['items']} | {t['answered']} | {t['items_s']:.3g} | "
                f"{', '.join(f'{r:.3g}' for r in t['rates'])} | {t['cpu_ms']:.3f} "
                f"({', '.join(f'{c:.3f}' for c in t['cpu_runs'])}) | {process} | {ratio:.2f}× | "
                f"{t['load']}{' (failed runs: ' + '; '.join(t['failed']) + ')' if t['failed'] else ''} |"
            )
        if s["cvalues"].get("transport"):
            lines.append(f"\ncvalues' HTTP transport: `{s['cvalues']['transport']}`.")
        if s["cvalues"].get("phase_items_s") and s["lm-eval"].get("items_s"):
            c, lm = s["cvalues"], s["lm-eval"]
            lines.append(
                f"The request phase alone (cvalues' executor inside the same command: store look-up, "
                f"hashes, every request, batched answer writes; what lm-eval's `generate_until` "
                f"corresponds to): {c['phase_items_s']:.3g} items/s and {c['phase_cpu_ms']:.3f} ms CPU "
                f"per request (medians), {c['phase_items_s'] / lm['items_s']:.2f}× lm-eval's items/s, "
                f"{c['phase_cpu_ms'] / lm['cpu_ms']:.2f}× its CPU per request."
            )
        if "resume" in runs:
            r = runs["resume"]
            lines.append(
                f"\nResume (same command, same store): {r['items']} items in {r['wall_s']:.2f} s, "
                f"**{r['requests_sent']} requests sent** to the server."
            )
        lines.append("")
    st = report["store"]
    lines += [
        f"**Store at resume scale** (SQLite): {st['n']:,} stored answers; "
        f"`get_responses` of {st['n']:,} hashes "
        f"{1000 * st['lookup_s']:.0f} ms in {st['lookup_statements']} SELECT statements (chunked IN), "
        f"{st['found']:,} found; `execute` of {st['n']:,} requests all served from the store "
        f"{st['execute_s']:.2f} s ({st['execute_cached']:,} cached, {st['execute_sent']} sent; the backend "
        f"points at a closed port and is never opened).\n",
        "What each figure includes. items/s: items ÷ wall time of the timed call in each tool's own "
        "process, imports done before the clock starts. The timed call is, for cvalues, the whole "
        "`cvalues generate` command (reading the dataset, a fresh SQLite store with its migrations, "
        "item and run rows, every request, batched answer writes, refusal rules, scoring, "
        "results.json and samples.jsonl); for lm-eval, `LocalChatCompletion.generate_until` on "
        "ready-made requests (no task, store, scoring or output files); for inspect_ai, `eval()` of a "
        "`generate()` task (its log included). Client CPU ms/request, timed call: that process's CPU "
        "time over the same call ÷ items: the harness overhead, free of the server's time, and the "
        "figure a loaded machine disturbs least. Whole-process CPU ms/request: the CPU time of the "
        "driver's whole process (interpreter start, imports, set-up, the call, exit; for cvalues also "
        "a one-prompt warm-up run in a throw-away store) ÷ items, measured the same way for every tool "
        "(getrusage of the child).\n",
    ]
    with (HERE / "RESULTS.md").open("a", encoding="utf-8") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
