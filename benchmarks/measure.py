"""Run pipeline stages as subprocesses and measure each one alone: wall, CPU-s, peak RSS (os.wait4).

Shared by benchmarks/concurrency.py and benchmarks/scaling.py. A stage runs as DVC runs it
(``python -m pipelines.<stage>`` in a workspace, tests/workspace.py), its log in ``<workspace>/<stage>.log``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

QUIET = {"TQDM_DISABLE": "1", "PYTHONWARNINGS": "ignore"}


def start_stage(root: Path, stage: str, env: dict[str, str]) -> tuple[subprocess.Popen, float]:
    log = open(root / f"{stage}.log", "w")  # the child holds its own copy; ours closes below
    proc = subprocess.Popen(
        [sys.executable, "-m", f"pipelines.{stage}"], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    return proc, time.perf_counter()


def wait_stage(root: Path, stage: str, proc: subprocess.Popen, started: float) -> dict[str, float]:
    """Wait for one stage process; its own wall, CPU seconds and peak RSS."""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = (root / f"{stage}.log").read_text()[-3000:]
        raise RuntimeError(f"stage {stage} failed (exit {proc.returncode}) in {root}:\n{tail}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def run_stage(root: Path, stage: str, env: dict[str, str]) -> dict[str, float]:
    proc, started = start_stage(root, stage, env)
    return wait_stage(root, stage, proc, started)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)
