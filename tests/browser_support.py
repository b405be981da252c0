"""Opening a report in real headless Chromium (Debian's `chromium`, driven by Python Playwright).

The browser is a test requirement, not an optional extra: when it is missing the test fails
with the command that installs it (never `playwright install`, which downloads a browser).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

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
_INSTALL = (
    "apt-get install -y chromium chromium-driver && pip install playwright (never `playwright install`)"
)

# Every leaderboard cell as the page shows it: table, model, column, data-* values, visible text.
_READ_CELLS = """() => Array.from(document.querySelectorAll('table td[data-col]')).map(td => ({
  table: td.closest('table').id,
  model: td.closest('tr').dataset.model,
  col: td.dataset.col,
  value: td.dataset.value ?? null,
  ci: td.dataset.ci ?? null,
  missing: td.dataset.missing === 'true',
  text: td.innerText,
}))"""


@dataclass
class PageVisit:
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    title: str = ""


def require_browser() -> None:
    if not CHROMIUM.is_file() and shutil.which("chromium") is None:
        pytest.fail(f"Chromium is missing ({CHROMIUM}); install it: {_INSTALL}", pytrace=False)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail(f"Python Playwright is missing; install it: {_INSTALL}", pytrace=False)


def visit_report(html: Path, screenshot: Path) -> PageVisit:
    """Load ``html`` from a file:// URL, record every request, read the cells, take a full-page screenshot."""
    require_browser()
    from playwright.sync_api import sync_playwright

    visit = PageVisit()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: visit.requests.append(r.url))
            page.on("requestfailed", lambda r: visit.failed.append(f"{r.url} ({r.failure})"))
            page.on("console", lambda m: visit.console_errors.append(m.text) if m.type == "error" else None)
            page.on("dialog", lambda d: (visit.alerts.append(d.message), d.dismiss()))
            page.goto(html.resolve().as_uri(), wait_until="load")
            visit.title = page.title()
            visit.cells = page.evaluate(_READ_CELLS)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return visit
