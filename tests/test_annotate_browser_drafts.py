"""Annotators never lose a label (issue 14, item 7), in real headless Chromium: the session expires
mid-label, and after logging in again the same item comes back with its label and comment; a stale
CSRF token leads back to the form, filled in. Bidi controls are shown, not applied."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import delete

from annotate_world import PASSWORDS, World, open_world, safety_task
from cvalues.annotate.db import SESSIONS
from servers import free_port
from test_annotate_browser import CHROMIUM, CHROMIUM_ARGS, _browser_missing

COMMENT = "回复回避了问题，需要复核"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[World, str]]:
    with open_world("sqlite", tmp_path) as world:
        safety_task(world, n=4, per_item=1)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(world.app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            yield world, f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def _log_in(page: Any, name: str) -> None:
    page.fill('input[name="name"]', name)
    page.fill('input[name="password"]', PASSWORDS[name])
    with page.expect_navigation():
        page.click('button[type="submit"]')


def _first_item(world: World, name: str) -> str:
    user = world.accounts.get_user(name)
    mine = [p for p in world.tasks.progress_for_user(user) if p.task_id == "safety-t"]
    assert mine and mine[0].total > 0
    return "/tasks/safety-t/0"


def test_label_survives_an_expired_session_and_a_stale_token(served: tuple[World, str]) -> None:
    missing = _browser_missing()
    if missing:
        pytest.fail(missing, pytrace=False)
    from playwright.sync_api import sync_playwright

    world, base = served
    name = next(
        n
        for n in ("alice", "bob", "carol")
        if world.tasks.assignment_at("safety-t", world.accounts.get_user(n), 0)
    )
    item = _first_item(world, name)
    user = world.accounts.get_user(name)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(locale="zh-CN").new_page()
            page.goto(f"{base}/login?next={item}")
            _log_in(page, name)
            assert page.url.endswith(item)
            page.keyboard.press("u")
            page.fill('textarea[name="comment"]', COMMENT)
            # The session ends (expiry, or an admin) while the annotator is still on the page.
            with world.store.engine.begin() as conn:
                conn.execute(delete(SESSIONS).where(SESSIONS.c.annotator_id == user.id))
            page.click("body")
            with page.expect_navigation():
                page.keyboard.press("n")
            page.wait_for_selector("#session-expired")
            assert "登录已过期" in page.inner_text("#session-expired")
            _log_in(page, name)
            assert page.url.endswith(item)
            page.wait_for_selector("#draft-restored:not([hidden])")
            assert page.is_checked('input[name="verdict"][value="unsafe"]')
            assert page.input_value('textarea[name="comment"]') == COMMENT
            assert world.tasks.count_labels("safety-t") == 0

            # A stale token (say, from a session renewed in another tab): the form comes back.
            page.evaluate("document.querySelector('#label-form input[name=csrf_token]').value = 'stale'")
            with page.expect_navigation():
                page.click('#label-form button[type="submit"]')
            assert "页面已过期" in page.inner_text("main")
            with page.expect_navigation():
                page.click("#back-to-form")
            assert page.is_checked('input[name="verdict"][value="unsafe"]')
            assert page.input_value('textarea[name="comment"]') == COMMENT

            with page.expect_navigation():
                page.click('#label-form button[type="submit"]')
            assert world.tasks.count_labels("safety-t") == 1
            saved = world.tasks.assignment_at("safety-t", user, 0)
            assert saved.label["verdict"] == "unsafe" and saved.comment == COMMENT
            # Saved: the draft is gone, so the next visit shows the stored label, not a draft.
            page.goto(f"{base}{item}")
            assert page.is_hidden("#draft-restored")
        finally:
            browser.close()


def test_adjudication_shortcuts_work(served: tuple[World, str]) -> None:
    """Issue 14, item 8: the adjudication page's s/u shortcuts and n to save do what they say."""
    missing = _browser_missing()
    if missing:
        pytest.fail(missing, pytrace=False)
    from playwright.sync_api import sync_playwright

    world, base = served
    item = world.tasks.items("safety-t")[1]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(locale="zh-CN").new_page()
            page.goto(f"{base}/login?next=/admin/tasks/safety-t/items/{item.id}")
            _log_in(page, "root")
            page.keyboard.press("u")
            assert page.is_checked('#adjudicate-form input[name="verdict"][value="unsafe"]')
            with page.expect_navigation():
                page.keyboard.press("n")
            assert page.url.endswith("/admin/tasks/safety-t")
        finally:
            browser.close()
    final, _note = world.tasks.adjudications("safety-t")[item.id]
    assert final["verdict"] == "unsafe"
