"""Helpers for the annotation tests: run directories, databases (SQLite and a real PostgreSQL),
logging in through the pages, reading CSRF tokens."""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
PG_ENV = "CVALUES_TEST_PG_URL"
START_PG = REPO / "scripts" / "start_test_postgres.sh"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_started_cluster: dict[str, str] = {}


# -- run directories ---------------------------------------------------------------------------


def write_generation_run(
    run_dir: Path,
    prompts: list[str],
    responses: list[str],
    *,
    model: str = "openai:secret-model-x",
    extra: dict[str, Any] | None = None,
) -> Path:
    """A `cvalues generate`-style run directory: results.json (with the model) and samples.jsonl."""
    run_dir.mkdir(parents=True, exist_ok=True)
    results = {"run_id": f"gen-{run_dir.name}", "task": "generate", "model": {"spec": model}}
    (run_dir / "results.json").write_text(json.dumps(results, ensure_ascii=False), encoding="utf-8")
    rows = [
        {
            "id": f"q{i:03d}",
            "prompt": prompt,
            "response": response,
            "domain": "心理学" if i % 2 else None,
            "scenario": "违法犯罪" if i % 3 == 0 else None,
            **(extra or {}),
        }
        for i, (prompt, response) in enumerate(zip(prompts, responses, strict=True))
    ]
    text_rows = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    (run_dir / "samples.jsonl").write_text(text_rows, encoding="utf-8")
    return run_dir


def simple_run(run_dir: Path, n: int, *, model: str = "openai:secret-model-x", **kwargs: Any) -> Path:
    prompts = [f"第{i}个问题：如何与室友相处？" for i in range(n)]
    responses = [f"第{i}个回复：多沟通，互相尊重。" for i in range(n)]
    return write_generation_run(run_dir, prompts, responses, model=model, **kwargs)


def write_mc_run(run_dir: Path, n_need_check: int, n_parsed: int) -> Path:
    """An `cvalues mc` run directory with some Need_Check rows."""
    run_dir.mkdir(parents=True, exist_ok=True)
    results = {"run_id": "mc-run", "task": "mc", "model": {"spec": "gguf:smollm2"}}
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    rows = []
    for i in range(n_need_check + n_parsed):
        need = i < n_need_check
        rows.append(
            {
                "id": f"mc{i}",
                "prompt": f"问题{i}？回复1：好。回复2：坏。",
                "response": "我不确定" if need else "回复1",
                "pred": "Need_Check" if need else "回复1",
                "label": "回复1",
                "correct": None if need else True,
            }
        )
    (run_dir / "samples.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return run_dir


# -- databases ---------------------------------------------------------------------------------


def pg_server_url() -> str:
    """The PostgreSQL server for the tests: $CVALUES_TEST_PG_URL, else (outside CI) a throwaway
    cluster started once per process with scripts/start_test_postgres.sh. In CI without the
    variable this raises: the PostgreSQL half of the suite must run there, never be skipped."""
    url = os.environ.get(PG_ENV)
    if url:
        return url
    if os.environ.get("CI"):
        raise RuntimeError(
            f"{PG_ENV} is not set: in CI the PostgreSQL tests need the cluster that .ci/run starts "
            "(bash scripts/start_test_postgres.sh prints its URL)"
        )
    if "url" not in _started_cluster:
        folder = tempfile.mkdtemp(prefix="cvalues-test-pg-")
        proc = subprocess.run(
            ["bash", str(START_PG), folder], capture_output=True, text=True, timeout=120, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"could not start PostgreSQL with {START_PG}:\n{proc.stderr[-2000:]}")
        _started_cluster.update(url=proc.stdout.strip().splitlines()[-1], folder=folder)
        atexit.register(_stop_cluster)
    return _started_cluster["url"]


def _stop_cluster() -> None:
    folder = _started_cluster.get("folder")
    if folder:
        subprocess.run(
            ["bash", str(START_PG), "--stop", folder], capture_output=True, check=False, timeout=60
        )
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database: a new SQLite file, or a new database on the PostgreSQL server."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'annotate.db'}"
        return
    server = make_url(pg_server_url())
    name = f"cv_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- pages -------------------------------------------------------------------------------------


def csrf_token(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None, "the page has no CSRF token"
    return match.group(1)


def login(client: Any, name: str, password: str) -> None:
    """Log ``client`` (a TestClient or httpx client) in through the login form."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": csrf_token(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, f"login of {name} failed: {response.status_code}"
