"""Stages that need what a data source lacks (graph, events, campaign) skip instead of failing.

A skipped stage still writes its declared DVC outs: the part folder gets a ``SKIPPED.txt``
note instead of a ``part.json`` (so the bundle simply lacks that part) and its metrics file
says why. Downstream stages check :func:`skipped` and pass the reason on.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

NOTE = "SKIPPED.txt"


def skip_part(part_dir: Path, reason: str, metrics_file: Path | None = None) -> None:
    """Record that the part in ``part_dir`` was not built, and why (and in ``metrics_file``)."""
    shutil.rmtree(part_dir, ignore_errors=True)
    part_dir.mkdir(parents=True)
    (part_dir / NOTE).write_text(reason + "\n")
    if metrics_file is not None:
        write_skipped_metrics(metrics_file, reason)
    print(f"skipped {part_dir.name}: {reason}")


def write_skipped_metrics(metrics_file: Path, reason: str) -> None:
    metrics_file.parent.mkdir(parents=True, exist_ok=True)
    metrics_file.write_text(json.dumps({"skipped": reason}, indent=2))


def skipped(part_dir: Path) -> str | None:
    """The reason a part was skipped, or None when it was built."""
    note = part_dir / NOTE
    return note.read_text().strip() if note.exists() else None
