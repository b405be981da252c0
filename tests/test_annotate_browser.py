"""Browser end-to-end in real headless Chromium (Debian's /usr/bin/chromium through Playwright):
two annotators label the same 10 items (partly with keyboard shortcuts), an admin logs in, and
the agreement on the admin page matches `cvalues annotate agreement`. Runs on SQLite and on a
real PostgreSQL. A missing browser fails the test with a message; it is never skipped."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from annotate_support import fresh_database, simple_run
from cli_support import cli_env, run_cli
from cvalues.annotate import Accounts, TaskStore
from cvalues.annotate.run_sources import read_generation_run
from cvalues.store import open_store
from servers import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORDS = {"ann1": "ann1-password", "ann2": "ann2-password", "boss": "boss-password"}
UNSAFE = {"ann1": {0, 1, 2, 3}, "ann2": {0, 1, 2, 4}}  # they disagree on items 3 and 4
SERVER_START_TIMEOUT_S = 60


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python Playwright is not installed: pip install playwright (never `playwright install`)"
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver"
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[str]:
    """`cvalues annotate serve` on a free loopback port, over a store with users and a 10-item task."""
    with open_store(db_url) as store:
        accounts = Accounts(store.engine)
        users = [accounts.add_user(name, "annotator", PASSWORDS[name]) for name in ("ann1", "ann2")]
        accounts.add_user("boss", "admin", PASSWORDS["boss"])
        source = read_generation_run(simple_run(tmp_path / "gen", 10))
        TaskStore(store.engine).create_task("e2e", "safety", "annotator", 2, 1, source, users)
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "cvalues", "annotate", "serve", "--db", db_url, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=cli_env(),
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the server did not start:\n{(tmp_path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
    yield url
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def _log_in(page: Any, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill('input[name="name"]', name)
    page.fill('input[name="password"]', PASSWORDS[name])
    page.click('button[type="submit"]')
    page.wait_for_load_state()


def _label_all(page: Any, base: str, name: str) -> None:
    _log_in(page, base, name)
    assert page.url.endswith("/tasks")
    page.click('a[href="/tasks/e2e"]')
    for step in range(10):
        page.wait_for_selector("#prompt")
        assert f"第 {step + 1} 条" in page.inner_text("#progress")
        index = int(re.search(r"第(\d+)个问题", page.inner_text("#prompt")).group(1))
        unsafe = index in UNSAFE[name]
        if step % 2 == 0:  # keyboard: s/u picks the verdict, n submits
            page.keyboard.press("u" if unsafe else "s")
            with page.expect_navigation():
                page.keyboard.press("n")
        else:
            # Typing "n" in the comment box must not submit the form.
            page.click('textarea[name="comment"]')
            page.keyboard.type("nice 不错")
            assert page.locator("#prompt").count() == 1
            page.check(f'input[name="verdict"][value="{"unsafe" if unsafe else "safe"}"]')
            with page.expect_navigation():
                page.click('#label-form button[type="submit"]')
    page.wait_for_selector("#task-done")
    page.goto(f"{base}/tasks")
    assert page.inner_text(".progress-count") == "10 / 10"


def test_two_annotators_and_an_admin_in_chromium(server: str, db_url: str, tmp_path: Path) -> None:
    missing = _browser_missing()
    if missing:
        pytest.fail(missing, pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            for name in ("ann1", "ann2"):
                context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
                _label_all(context.new_page(), server, name)
                context.close()
            admin = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN").new_page()
            _log_in(admin, server, "boss")
            assert admin.url.endswith("/admin")
            admin.click('a.admin-task-link:has-text("e2e")')
            admin.wait_for_selector("#agreement")
            figures = {
                cell.get_attribute("data-name"): cell.inner_text()
                for cell in admin.query_selector_all("td.figure")
            }
            shot = tmp_path / "admin-agreement.png"
            admin.screenshot(path=str(shot), full_page=True)
            keep = os.environ.get("CVALUES_SCREENSHOT_DIR")
            if keep:
                Path(keep).mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, Path(keep) / f"admin-agreement-{db_url.split(':')[0].split('+')[0]}.png")
            disagreements = admin.inner_text("#disagreements")
            admin.click("#lang-toggle")
            assert "Agreement" in admin.inner_text("main")
        finally:
            browser.close()

    assert figures["labels"] == "20"
    assert "q003" in disagreements and "q004" in disagreements and "q000" not in disagreements
    cli = run_cli("annotate", "agreement", "e2e", "--db", db_url)
    assert cli.code == 0, cli.stderr
    checked = 0
    for name, value in figures.items():
        row = next(line for line in cli.stdout.splitlines() if f" {name} " in line)
        assert row.split()[-2] == value, f"{name}: page {value}, CLI {row}"
        checked += 1
    assert checked == 6
    # Both agree on 8 of 10 items with 4 unsafe each: Cohen's kappa = (0.8 - 0.52) / 0.48.
    assert figures["verdict mean Cohen kappa"] == f"{(0.8 - 0.52) / 0.48:.3f}"
