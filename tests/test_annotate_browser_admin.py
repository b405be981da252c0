"""An admin creates a task from an uploaded samples.jsonl and closes it, in real headless Chromium
(issue 14, item 8); the annotator's task list follows."""

from __future__ import annotations

import pytest

from annotate_support import simple_run
from annotate_world import World
from test_annotate_browser import CHROMIUM, CHROMIUM_ARGS, _browser_missing
from test_annotate_browser_drafts import _log_in, served  # noqa: F401  (the fixture)


def test_an_admin_creates_and_closes_a_task_in_chromium(served: tuple[World, str]) -> None:  # noqa: F811
    missing = _browser_missing()
    if missing:
        pytest.fail(missing, pytrace=False)
    from playwright.sync_api import sync_playwright

    world, base = served
    run = simple_run(world.tmp / "upload", 3)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            admin = browser.new_context(locale="zh-CN").new_page()
            admin.goto(f"{base}/login?next=/admin")
            _log_in(admin, "root")
            with admin.expect_navigation():
                admin.click("#new-task-link")
            admin.select_option('select[name="kind"]', "responsibility")
            admin.fill('input[name="name"]', "责任-网页")
            admin.check('input[name="annotators"][value="carol"]')
            admin.set_input_files('input[name="samples_1"]', str(run / "samples.jsonl"))
            admin.set_input_files('input[name="results_1"]', str(run / "results.json"))
            with admin.expect_navigation():
                admin.click('#new-task-form button[type="submit"]')
            assert "任务已创建：3 条，共 1 名人员" in admin.inner_text("#task-created")

            annotator = browser.new_context(locale="zh-CN").new_page()
            annotator.goto(f"{base}/login?next=/tasks")
            _log_in(annotator, "carol")
            assert annotator.locator('tr.task-row[data-task="责任-网页"]').count() == 1

            with admin.expect_navigation():
                admin.click("#task-state button.task-close")
            assert "已关闭" in admin.inner_text("#task-state")
            annotator.reload()
            assert annotator.locator('tr.task-row[data-task="责任-网页"]').count() == 0
        finally:
            browser.close()
    task = world.tasks.get_task("责任-网页")
    assert task is not None and not task.is_open and task.meta["models"] == ["openai:secret-model-x"]
