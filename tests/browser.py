"""A real browser for tests: Debian's Chromium driven by Playwright (no browser download, ever).

Registered once as a plugin in tests/conftest.py, so any test can ask for them (Airflow form,
Data Docs, the HTML report)::

    def test_x(page):
        page.goto("http://127.0.0.1:PORT/")

Chromium comes from `scripts/install-system-packages.sh` (called by `make test`). Without
/usr/bin/chromium the tests skip with that reason, except in CI (``CI`` set), where they fail:
a browser test that silently skips in CI proves nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHURNGUARD_CHROMIUM", "/usr/bin/chromium"))
# Headless on a shared, offline box: no sandbox (root in containers), no GPU, no background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing (scripts/install-system-packages.sh installs Debian's chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module. Not per session: Playwright's sync API keeps an event
    loop running on the main thread while it is open, and later tests that call asyncio.run() fail."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, tmp_path):
    """A fresh browser context and page per test; a screenshot is left in tmp_path on teardown."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    pg = context.new_page()
    try:
        yield pg
    finally:
        try:
            pg.screenshot(path=str(tmp_path / "last_page.png"), full_page=True)
        except Exception:  # the page may already be gone; the screenshot is only a debugging aid
            pass
        context.close()
