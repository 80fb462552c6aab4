"""The Data Docs render offline: headless Chromium (tests/browser.py) opens the index and a
validation page from disk, finds one row per table, and no request leaves the machine."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace


@pytest.fixture(scope="module")
def docs_dir(tmp_path_factory):
    ws = Workspace.create(tmp_path_factory.mktemp("docs_ws"), {"world": {"customers": 1500}})
    ws.run_stage("ingest")
    ws.run_stage("validate")
    return ws.root / "reports" / "data_docs"


def _record_requests(pg) -> list[str]:
    urls: list[str] = []
    pg.on("request", lambda req: urls.append(req.url))
    return urls


def test_index_lists_every_table_without_network(page, docs_dir):
    urls = _record_requests(page)
    page.goto((docs_dir / "index.html").as_uri())
    rows = page.locator("table#tables tbody tr")
    assert rows.count() == 4
    assert sorted(rows.nth(i).get_attribute("data-table") for i in range(4)) == [
        "campaign",
        "customers",
        "events",
        "referrals",
    ]
    assert page.locator("td.passed").count() == 4
    external = [u for u in urls if not u.startswith(("file:", "data:"))]
    assert urls and not external, external  # the page was loaded, and only from disk


def test_validation_page_renders_its_results_offline(page, docs_dir):
    urls = _record_requests(page)
    page.goto((docs_dir / "index.html").as_uri())
    page.locator("tr[data-table='campaign'] a", has_text="validation results").click()
    page.wait_for_load_state()
    assert "validations/campaign_suite" in page.url
    assert page.locator("table tr").count() >= 10  # the expectations' result rows
    assert "arm_share_minus_design" in page.content()
    # the local stylesheet applies (a CDN-less page would show the browser's default serif font)
    assert "sans-serif" in page.evaluate("getComputedStyle(document.body).fontFamily")
    external = [u for u in urls if not u.startswith(("file:", "data:"))]
    assert not external, external
