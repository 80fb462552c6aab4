"""Shared pieces of the serving benchmarks (benchmarks/serving*.py): servers started by process group,
sequential latency, concurrent throughput, server CPU per request, online features seeded in Redis,
and a process that keeps one core busy (the "loaded machine" condition of issue #21).

Workspace: the one of ``CHURNGUARD_HOME`` (default the repository), its MLflow store
(``MLFLOW_TRACKING_URI`` or mlflow/mlflow.db) and data/features/customers.parquet.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from churnguard.core.config import PATHS  # noqa: E402
from churnguard.mlops.registry import DIGEST_TAG, tracking_uri  # noqa: E402

KEY = "bench-key"
VENV_BIN = Path(sys.executable).parent
REDIS_URL = "redis://127.0.0.1:6379/2"
LOGS = REPO / "benchmarks" / "results"
DROP = ("churned", "churn_label", "split")  # labels: never sent (signup_date is in the model signature)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    fh = open(log, "w")
    return subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def wait_ready(client, url: str, proc: subprocess.Popen, log: Path, timeout: float = 240) -> float:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if client.get(url, timeout=2).status_code == 200:
                return time.time() - t0
        except Exception:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"server not ready after {timeout}s: {log.read_text()[-2000:]}")


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user+system) of every process in a process group (a server and its workers)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 (pgrp) of /proc/PID/stat
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def process_cpu_s(pid: int) -> float:
    """CPU seconds of one process (the serving process alone, without a shadow child)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latencies(client, url: str, bodies: list, n: int, headers: dict) -> np.ndarray:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        r = client.post(url, json=bodies[i % len(bodies)], headers=headers)
        out.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text[:300]
    return np.array(out) * 1000


def throughput(url: str, bodies: list, headers: dict, clients: int, seconds: float) -> dict:
    import httpx

    counts, errors = [0] * clients, [0] * clients
    stop_at = time.perf_counter() + seconds

    def worker(k: int) -> None:
        with httpx.Client(timeout=30) as c:
            i = k
            while time.perf_counter() < stop_at:
                r = c.post(url, json=bodies[i % len(bodies)], headers=headers)
                counts[k] += r.status_code == 200
                errors[k] += r.status_code != 200
                i += clients

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"requests_per_s": round(sum(counts) / wall, 1), "requests": sum(counts), "errors": sum(errors)}


def pct(a: np.ndarray) -> dict:
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 2),
        "p99_ms": round(float(np.percentile(a, 99)), 2),
        "mean_ms": round(float(a.mean()), 2),
        "n": len(a),
    }


def champion(version: str | None) -> tuple[str, bool]:
    """(version, digest verified): the champion unless ``version`` is given. Versions registered before
    artifact digests existed carry no tag and are served unverified (said in the result)."""
    from mlflow import MlflowClient

    uri = tracking_uri()
    client = MlflowClient(uri, uri)
    version = version or str(client.get_model_version_by_alias("churnguard", "champion").version)
    return version, DIGEST_TAG in client.get_model_version("churnguard", version).tags


def sample_customers(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(whole feature table, ``n`` sampled customers)."""
    table = pd.read_parquet(PATHS.features / "customers.parquet")
    return table, table.sample(n, random_state=seed)


@contextmanager
def online_features(sample: pd.DataFrame):
    """The sampled customers' online features in Redis (db 2, a unique prefix, removed afterwards)."""
    import redis

    prefix = f"cgbench:{uuid.uuid4().hex[:8]}:"
    rds = redis.Redis.from_url(REDIS_URL)
    pipe = rds.pipeline()
    for cid, tickets, sessions in zip(sample["customer_id"], sample["support_tickets_90d"], sample["sessions_30d"]):
        key = f"{prefix}{cid}"
        mapping = {"support_tickets_90d": int(tickets), "sessions_30d": float(sessions) + 1}
        pipe.hset(key, mapping={**mapping, "rt_churn_probability": 0.3, "updated_ms": int(time.time() * 1000)})
        pipe.expire(key, 3600)
    pipe.execute()
    try:
        yield prefix
    finally:
        for key in rds.scan_iter(f"{prefix}*"):
            rds.delete(key)


def server_env(**extra: str) -> dict[str, str]:
    env = dict(
        os.environ,
        MLFLOW_TRACKING_URI=tracking_uri(),
        CHURNGUARD_API_KEYS=KEY,
        OMP_NUM_THREADS="1",
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # mlflow execs `uvicorn`
        PYTHONPATH=str(REPO),
    )
    env.update(extra)
    return env


def churnguard_cmd(port: int, version: str, prefix: str, verified: bool, *extra: str) -> list[str]:
    return [
        str(VENV_BIN / "python"),
        "-m",
        "churnguard.cli",
        "serve",
        "--port",
        str(port),
        "--model-uri",
        f"models:/churnguard/{version}",
        "--redis-url",
        REDIS_URL,
        "--redis-prefix",
        prefix,
        "--rate-limit",
        "1000000",
        "--log-level",
        "warning",
        *([] if verified else ["--allow-unverified-model"]),
        *extra,
    ]


def _spin(stop_at: float) -> None:
    x = 0
    while time.time() < stop_at:
        x += 1


@contextmanager
def busy_core(enabled: bool, seconds: float = 3600.0):
    """A second process keeping one core busy (pure Python spin) while the block runs."""
    if not enabled:
        yield None
        return
    proc = mp.get_context("spawn").Process(target=_spin, args=(time.time() + seconds,), daemon=True)
    proc.start()
    try:
        yield proc.pid
    finally:
        proc.terminate()
        proc.join(5)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def summary_line(name: str, numbers: dict[str, Any]) -> str:
    single = numbers.get("single", {})
    return (
        f"{name}: p50 {single.get('p50_ms')} ms, p99 {single.get('p99_ms')} ms, "
        f"server CPU {single.get('server_cpu_ms_per_request')} ms/request"
    )
