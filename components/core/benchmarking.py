"""Benchmark output: every benchmark writes benchmarks/results/<name>.json with the machine,
the run (parameters, time) and the numbers, so results are comparable across runs."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(
    os.environ.get("CHURNGUARD_BENCH_RESULTS", Path(__file__).resolve().parents[2] / "benchmarks" / "results")
)


def machine() -> dict[str, Any]:
    mem_gb = None
    try:
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "memory_gb": mem_gb,
        "python": platform.python_version(),
    }


def write_result(name: str, run: dict[str, Any], numbers: dict[str, Any]) -> Path:
    """Write and return benchmarks/results/<name>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "machine": machine(),
        "run": {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **run},
        "numbers": numbers,
    }
    path.write_text(json.dumps(payload, indent=2, default=str))
    print(json.dumps(payload["numbers"], indent=2, default=str))
    return path
