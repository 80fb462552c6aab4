"""The one rule for progress bars: only on a terminal, never with ``TQDM_DISABLE`` set.

A log file (an Airflow task log, ``make run > run.log``) must not fill up with carriage-return
frames. Plain ``tqdm(...)`` calls follow ``TQDM_DISABLE`` by themselves, and the launchers set it
(dags/*, ``churnguard run`` when its stderr is not a terminal); code that passes ``disable=`` or
``progress=`` explicitly asks :func:`progress_bars`. Its own module, so that a change to it (or to
the orchestration glue) does not invalidate every DVC stage that draws a bar.
"""

from __future__ import annotations

import os
import sys


def progress_bars() -> bool:
    """True when bars should be drawn: stderr is a terminal and ``TQDM_DISABLE`` is not set."""
    if os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes"):
        return False
    return sys.stderr.isatty()
