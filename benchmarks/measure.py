"""Run pipeline stages as subprocesses and measure each one alone: wall, CPU-s, peak RSS (os.wait4).

Shared by benchmarks/concurrency.py and benchmarks/scaling.py. A stage runs as DVC runs it
(``python -m pipelines.<stage>`` in a workspace, tests/workspace.py), its log in ``<workspace>/<stage>.log``.
The code and params are a snapshot of a commit (default HEAD, :func:`snapshot`), so a long measurement
does not pick up files being edited in the working tree while it runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

QUIET = {"TQDM_DISABLE": "1", "PYTHONWARNINGS": "ignore"}
REPO = Path(__file__).resolve().parents[1]
SNAPSHOT_PATHS = ["components", "pipelines", "params.yaml", "services.yaml", "dvc.yaml"]


def snapshot(dest: Path, commit: str = "HEAD") -> Path:
    """The committed code and params of ``commit`` in ``dest`` (with the churnguard import name); returns dest."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, *SNAPSHOT_PATHS], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    (dest / "churnguard").symlink_to("components")
    return dest


def stage_env(workspace_env: dict[str, str], code: Path) -> dict[str, str]:
    """A workspace's environment running the snapshot's code, quietly."""
    return dict(workspace_env, PYTHONPATH=str(code), **QUIET)


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
