"""Great Expectations Data Docs that work offline.

GE 1.x pages load Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega from CDNs, and its
``index.html`` is an empty table that bootstrap-table fills from JavaScript: offline the pages
render unstyled and the index is empty. GE's package ships only its own fonts, images and
stylesheets (``great_expectations/render/view/static``, already copied into the site), not
those libraries. So after GE builds the site, ``make_offline``:
- removes every external ``<script>``/``<link>``/``<img>`` and the inline scripts that need them
  (the validation results themselves are plain HTML tables rendered by Jinja on the server side);
- links a small local stylesheet (``static/styles/churnguard_offline.css``);
- replaces the index by a static one: one row per table with its result and links to the
  validation page and the suite.
The browser test (tests/foundation/test_data_docs_browser.py) records every request a page makes.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

OFFLINE_CSS = "static/styles/churnguard_offline.css"
_EXTERNAL = r"""(?:https?:)?//"""
_PATTERNS = [
    re.compile(r"<script[^>]*\bsrc=[\"']" + _EXTERNAL + r"[^>]*>\s*</script>", re.I | re.S),
    re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>.*?</script>", re.I | re.S),  # inline: needs jQuery/Vega
    re.compile(r"<link[^>]*\bhref=[\"']" + _EXTERNAL + r"[^>]*>", re.I | re.S),
    re.compile(r"<img[^>]*\bsrc=[\"']" + _EXTERNAL + r"[^>]*>", re.I | re.S),
]
_CSS_URL = re.compile(r"url\(\s*['\"]?" + _EXTERNAL + r"[^)]*\)", re.I)
STYLE = """body{font-family:sans-serif;margin:0 auto;max-width:1200px;padding:0 16px;color:#222}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border-bottom:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f4f4f4}a{color:#0b5cad}.passed{color:#176b2c;font-weight:bold}
.failed{color:#b00020;font-weight:bold}.modal,.d-none,.sr-only,.navbar-toggler,.cooltip .top{display:none}
.card{border:1px solid #e3e3e3;border-radius:4px;margin:10px 0;padding:8px}img{max-width:100%}
nav{margin:8px 0}ul{padding-left:20px}
"""


def strip_external(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub("", text)
    return text


def _link_css(text: str, page: Path, docs_dir: Path) -> str:
    href = Path(os.path.relpath(docs_dir / OFFLINE_CSS, page.parent)).as_posix()
    tag = f'<link rel="stylesheet" href="{href}">'
    return text.replace("</head>", tag + "</head>", 1) if "</head>" in text else tag + text


def make_offline(docs_dir: Path, reports: dict[str, Any]) -> Path:
    """Rewrite the site under ``docs_dir`` to load nothing from the network; returns the new index."""
    docs_dir = Path(docs_dir)
    css = docs_dir / OFFLINE_CSS
    css.parent.mkdir(parents=True, exist_ok=True)
    css.write_text(STYLE)
    for sheet in css.parent.glob("*.css"):
        sheet.write_text(_CSS_URL.sub("none", sheet.read_text()))
    for page in sorted(docs_dir.rglob("*.html")):
        if page == docs_dir / "index.html":
            continue
        page.write_text(_link_css(strip_external(page.read_text()), page, docs_dir))
    index = docs_dir / "index.html"
    index.write_text(index_html(docs_dir, reports))
    return index


def _latest_validation_page(docs_dir: Path, table: str) -> str | None:
    pages = sorted((docs_dir / "validations" / f"{table}_suite").rglob("*.html"))
    return pages[-1].relative_to(docs_dir).as_posix() if pages else None


def index_html(docs_dir: Path, reports: dict[str, Any]) -> str:
    """A static index: one row per table (result, expectations, failures, links)."""
    esc = html.escape
    rows = []
    for table, rep in reports.items():
        page = _latest_validation_page(docs_dir, table)
        result = "passed" if rep.success else "failed"
        link = f'<a href="{esc(page)}">validation results</a>' if page else "no page"
        first = esc(str(rep.failures[0])) if rep.failures else ""
        rows.append(
            f"<tr class='table-row' data-table='{esc(table)}'><td>{esc(table)}</td>"
            f"<td class='{result}'>{result}</td><td>{rep.evaluated}</td><td>{len(rep.failures)}</td>"
            f"<td>{link} &middot; <a href='expectations/{esc(table)}_suite.html'>suite</a></td>"
            f"<td>{first}</td></tr>"
        )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>churnguard data docs</title>"
        f"<link rel='stylesheet' href='{OFFLINE_CSS}'></head><body><h1>Data validation</h1>"
        "<p>One Great Expectations suite per input table. Each row links to the latest validation "
        "results and to the suite's expectations.</p><table id='tables'><thead><tr><th>table</th>"
        "<th>result</th><th>expectations</th><th>failed</th><th>pages</th><th>first failure</th></tr>"
        "</thead><tbody>" + "".join(rows) + "</tbody></table></body></html>\n"
    )
