"""Run every ```python block of a Markdown file in order, in one namespace (a notebook session).

Used in-process by test_doc_examples.py and as a script by test_wheel.py inside a fresh virtual
environment (so it imports nothing of the checkout): ``python run_doc.py DOC [--expect-under DIR]``,
where ``--expect-under`` asserts that ``churnguard`` is imported from DIR (the venv's site-packages).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks(doc: Path) -> list[tuple[int, str]]:
    """(line number, code) of each python block."""
    text = doc.read_text()
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in FENCE.finditer(text)]


def run(doc: Path) -> dict[str, Any]:
    """Execute the blocks; a failing block raises with its line number in the doc."""
    namespace: dict[str, Any] = {"__name__": "__doc_examples__"}
    for line, code in blocks(doc):
        t0 = time.perf_counter()
        try:
            exec(compile(code, f"{doc.name}:{line}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{doc.name} block at line {line} failed: {type(exc).__name__}: {exc}") from exc
        print(f"[doc] block at line {line} ran in {time.perf_counter() - t0:.2f}s", flush=True)
    return namespace


def main(argv: list[str]) -> int:
    doc = Path(argv[0])
    if "--expect-under" in argv:
        import churnguard

        where = Path(argv[argv.index("--expect-under") + 1]).resolve()
        origin = Path(churnguard.__file__).resolve()
        assert where in origin.parents, f"churnguard imported from {origin}, not from {where}"
        print(f"[doc] churnguard {churnguard.__version__} from {origin}")
    run(doc)
    print(f"[doc] {len(blocks(doc))} blocks of {doc.name} ran")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
