"""Load test of the annotation web app: simulated annotators submitting labels concurrently.

Starts `cvalues annotate serve` on a free loopback port over a fresh store (SQLite by default, or
--db URL), creates N annotators and a task giving each of them K items, then N asyncio clients
(httpx, each with its own session cookie and CSRF token) log in and label all their items at once.
Bounded: N*K submissions and --time-limit seconds. Checks that no label is lost (labels in the
store == successful submissions == N*K) and records p50/p95 submission latency in
benchmarks/RESULTS.md (appended).

    python benchmarks/annotate_load.py                      # 50 annotators x 10 items, SQLite
    python benchmarks/annotate_load.py --db postgresql+psycopg://user@127.0.0.1:5432/db
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

RESULTS_MD = Path(__file__).resolve().with_name("RESULTS.md")
TASK_ID = "load"
PASSWORD = "load-test-password"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_POSITION = re.compile(r"/tasks/load/(\d+)$")
MAX_RETRIES = 1000


@dataclass
class LoadResult:
    annotators: int
    items_each: int
    submitted: int = 0
    failed: int = 0
    stored: int = 0
    latencies_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    login_wall_s: float = 0.0
    retries: int = 0

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")

    def ms(self, q: float) -> str:
        return f"{1000 * self.quantile(q):.0f}"

    @property
    def ok(self) -> bool:
        expected = self.annotators * self.items_each
        return self.failed == 0 and self.submitted == expected and self.stored == expected


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_store(db: str, annotators: int, items_each: int, per_item: int, work: Path) -> None:
    """Accounts ann00..annNN and a safety task giving each annotator ``items_each`` items."""
    from cvalues.annotate import Accounts, TaskStore
    from cvalues.annotate.run_sources import read_generation_run
    from cvalues.store import open_store

    n_items = annotators * items_each // per_item
    run = work / "gen"
    run.mkdir(parents=True, exist_ok=True)
    (run / "results.json").write_text(json.dumps({"run_id": "load", "task": "generate", "model": "openai:m"}))
    rows = [
        {"id": f"i{i:05d}", "prompt": f"负载测试问题 {i}", "response": f"负载测试回复 {i}"}
        for i in range(n_items)
    ]
    (run / "samples.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    with open_store(db) as store:
        accounts = Accounts(store.engine)
        users = [accounts.add_user(f"ann{i:02d}", "annotator", PASSWORD) for i in range(annotators)]
        TaskStore(store.engine).create_task(
            TASK_ID, "safety", "annotator", per_item, 0, read_generation_run(run), users
        )


def count_labels(db: str) -> int:
    from cvalues.annotate import TaskStore
    from cvalues.store import open_store

    with open_store(db) as store:
        return TaskStore(store.engine).count_labels(TASK_ID)


def start_server(db: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cvalues", "annotate", "serve", "--db", db, "--port", str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"the server did not start; log:\n{log.read_text(errors='replace')[-2000:]}")


async def _annotator(base: str, name: str, items_each: int, result: LoadResult) -> None:
    mine = LoadResult(1, items_each)
    try:
        await _label_items(base, name, items_each, mine)
    except httpx.HTTPError as exc:  # a dropped connection counts as failed submissions, not a crash
        print(f"{name}: {type(exc).__name__}: {exc!r}", file=sys.stderr)
        mine.failed += max(0, items_each - mine.submitted - mine.failed)
    # Counted per annotator, then added: the clients run concurrently.
    result.submitted += mine.submitted
    result.failed += mine.failed
    result.retries += mine.retries
    result.latencies_s += mine.latencies_s


async def _label_items(base: str, name: str, items_each: int, result: LoadResult) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        page = await client.get("/login")
        login = await client.post(
            "/login",
            data={"name": name, "password": PASSWORD, "csrf_token": _CSRF.search(page.text).group(1)},  # type: ignore[union-attr]
        )
        if login.status_code != 303:
            result.failed += items_each
            return
        for _ in range(items_each):
            resume = await client.get(f"/tasks/{TASK_ID}")
            position = _POSITION.search(resume.headers.get("location", ""))
            if resume.status_code != 303 or position is None:
                result.failed += 1
                continue
            form = await client.get(resume.headers["location"])
            token = _CSRF.search(form.text).group(1)  # type: ignore[union-attr]
            started = time.perf_counter()
            data = {"verdict": "safe", "comment": f"{name} 的标注", "csrf_token": token}
            saved = await client.post(f"/tasks/{TASK_ID}/{position.group(1)}", data=data)
            # A busy store answers 503 with Retry-After and the form kept: resubmit, as the page does.
            while saved.status_code == 503 and result.retries < MAX_RETRIES:
                result.retries += 1
                await asyncio.sleep(float(saved.headers.get("retry-after", "1")))
                saved = await client.post(f"/tasks/{TASK_ID}/{position.group(1)}", data=data)
            result.latencies_s.append(time.perf_counter() - started)
            if saved.status_code == 303:
                result.submitted += 1
            else:
                result.failed += 1


async def _run_clients(
    base: str, annotators: int, items_each: int, result: LoadResult, limit_s: float
) -> None:
    tasks = [_annotator(base, f"ann{i:02d}", items_each, result) for i in range(annotators)]
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=limit_s)


def run_load(
    db: str | None, annotators: int, items_each: int, per_item: int, time_limit_s: float, work: Path
) -> LoadResult:
    """Prepare, serve, hammer, count. The server is stopped whatever happens."""
    db = db or f"sqlite:///{work / 'load.db'}"
    prepare_store(db, annotators, items_each, per_item, work)
    port = _free_port()
    server = start_server(db, port, work / "server.log")
    result = LoadResult(annotators, items_each)
    try:
        started = time.perf_counter()
        asyncio.run(_run_clients(f"http://127.0.0.1:{port}", annotators, items_each, result, time_limit_s))
        result.wall_s = time.perf_counter() - started
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    result.stored = count_labels(db)
    return result


def record(result: LoadResult, backend: str, path: Path = RESULTS_MD) -> str:
    """Append a section to RESULTS.md (never rewrites what is there)."""
    section = "\n".join(
        [
            "",
            f"## Annotation app under load ({datetime.now(UTC):%Y-%m-%d}, {backend})",
            "",
            f"`python benchmarks/annotate_load.py` — {result.annotators} simulated annotators "
            f"(httpx, own session and CSRF token each) submitting {result.items_each} labels each, "
            "concurrently, to `cvalues annotate serve` (one uvicorn process) on loopback.",
            f"Machine: {os.cpu_count()} CPU cores, Python {platform.python_version()}, {platform.system()}; "
            f"load average {os.getloadavg()[0]:.1f} when the run ended (other jobs share these cores).",
            "",
            "| submissions | lost | failed | 503 retries | wall (s) | labels/s "
            "| p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            f"| {result.submitted} | {result.submitted - result.stored} | {result.failed} | {result.retries} "
            f"| {result.wall_s:.1f} | {result.submitted / result.wall_s:.0f} | {result.ms(0.5)} "
            f"| {result.ms(0.95)} | {result.ms(0.99)} | {result.ms(1.0)} |",
            "",
            "Latency: one label POST (form submit to its 303 redirect, including any 503 + Retry-After "
            "resubmissions), measured by the client. "
            "The wall time includes each client's page loads between submissions.",
            "",
        ]
    )
    with path.open("a", encoding="utf-8") as out:
        out.write(section)
    return section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="store URL [default: a fresh SQLite file]")
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--items-each", type=int, default=10)
    parser.add_argument("--per-item", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds before the run is abandoned")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cvalues-load-") as work:
        result = run_load(
            args.db, args.annotators, args.items_each, args.per_item, args.time_limit, Path(work)
        )
    backend = (args.db or "sqlite").split(":")[0].split("+")[0]
    print(
        f"{result.submitted} submitted, {result.stored} stored, {result.failed} failed "
        f"in {result.wall_s:.1f} s; p50 {result.ms(0.5)} ms, p95 {result.ms(0.95)} ms"
    )
    if not args.no_record:
        record(result, backend)
    if not result.ok:
        print("FAILED: labels were lost or submissions failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
