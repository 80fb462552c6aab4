"""Benchmark: churnguard serving vs `mlflow models serve` on the same model version.

One script, both servers started here on 127.0.0.1 (and stopped by process group):

- churnguard (`churnguard serve`, 1 process): single-customer predict over HTTP with online
  features in Redis (db 2, a unique key prefix, removed afterwards): p50/p99 latency,
  sequential; then throughput (requests/s) with C concurrent clients; batch rows/s.
- `mlflow models serve --env-manager local` (1 worker) on the same registered version:
  the same customers' feature rows sent as `dataframe_records` (it cannot look features up),
  same clients, same duration.
- ratio = churnguard requests/s / MLflow requests/s (goal >= 3x), p99 goal <= 10 ms.

Run: `.venv/bin/python benchmarks/serving.py [--version V] [--seconds S]`. Uses the workspace's
MLflow store (MLFLOW_TRACKING_URI or mlflow/mlflow.db) and data/features/customers.parquet.
Writes benchmarks/results/serving.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from churnguard.core.benchmarking import write_result  # noqa: E402
from churnguard.core.config import PATHS  # noqa: E402
from churnguard.mlops.registry import DIGEST_TAG, tracking_uri  # noqa: E402

KEY = "bench-key"
VENV_BIN = Path(sys.executable).parent


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


def main() -> None:
    import httpx
    import redis

    from mlflow import MlflowClient

    ap = argparse.ArgumentParser()
    ap.add_argument("--version", help="model version (default: the champion)")
    ap.add_argument("--seconds", type=float, default=8.0, help="throughput window per server")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--latency-requests", type=int, default=300)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()

    load_start = os.getloadavg()
    uri = tracking_uri()
    client = MlflowClient(uri, uri)
    version = args.version or client.get_model_version_by_alias("churnguard", "champion").version
    # versions registered before artifact digests existed carry no tag: serve them unverified (said in the result)
    verified = DIGEST_TAG in client.get_model_version("churnguard", version).tags
    table = pd.read_parquet(PATHS.features / "customers.parquet")
    sample = table.sample(200, random_state=0)
    ids = sample["customer_id"].astype(str).tolist()
    feature_cols = [c for c in table.columns if c not in ("churned", "churn_label", "split", "signup_date")]

    prefix = f"cgbench:{uuid.uuid4().hex[:8]}:"
    rds = redis.Redis.from_url("redis://127.0.0.1:6379/2")
    pipe = rds.pipeline()
    for cid, tickets, sessions in zip(ids, sample["support_tickets_90d"], sample["sessions_30d"]):
        pipe.hset(
            f"{prefix}{cid}",
            mapping={
                "support_tickets_90d": int(tickets),
                "sessions_30d": float(sessions) + 1,
                "rt_churn_probability": 0.3,
                "updated_ms": int(time.time() * 1000),
            },
        )
        pipe.expire(f"{prefix}{cid}", 3600)
    pipe.execute()

    env = dict(
        os.environ,
        MLFLOW_TRACKING_URI=uri,
        CHURNGUARD_API_KEYS=KEY,
        OMP_NUM_THREADS="1",
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # mlflow execs `uvicorn`
        PYTHONPATH=str(REPO),
    )
    logs = REPO / "benchmarks" / "results"
    logs.mkdir(parents=True, exist_ok=True)
    cg_port, ml_port = free_port(), free_port()
    procs: list[subprocess.Popen] = []
    numbers: dict = {}
    try:
        cg = start(
            [
                str(VENV_BIN / "python"),
                "-m",
                "churnguard.cli",
                "serve",
                "--port",
                str(cg_port),
                "--model-uri",
                f"models:/churnguard/{version}",
                "--redis-url",
                "redis://127.0.0.1:6379/2",
                "--redis-prefix",
                prefix,
                "--rate-limit",
                "1000000",
                "--log-level",
                "warning",
                *([] if verified else ["--allow-unverified-model"]),
            ],
            env,
            logs / "serving-churnguard.log",
        )
        procs.append(cg)
        ml = start(
            [
                str(VENV_BIN / "mlflow"),
                "models",
                "serve",
                "-m",
                f"models:/churnguard/{version}",
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(ml_port),
                "-w",
                "1",
            ],
            env,
            logs / "serving-mlflow.log",
        )
        procs.append(ml)
        with httpx.Client(timeout=30) as c:
            cg_url, ml_url = f"http://127.0.0.1:{cg_port}", f"http://127.0.0.1:{ml_port}"
            numbers["churnguard_ready_s"] = round(
                wait_ready(c, f"{cg_url}/health", cg, logs / "serving-churnguard.log"), 1
            )
            numbers["mlflow_ready_s"] = round(wait_ready(c, f"{ml_url}/ping", ml, logs / "serving-mlflow.log"), 1)
            h = {"X-API-Key": KEY}
            cg_bodies = [{"customers": [{"customer_id": i}]} for i in ids]
            ml_bodies = [
                {
                    "dataframe_records": json.loads(
                        sample[feature_cols].iloc[[k]].to_json(orient="records", date_format="iso")
                    )
                }
                for k in range(len(ids))
            ]
            first = c.post(f"{cg_url}/v1/predict", json=cg_bodies[0], headers=h).json()
            assert first["predictions"][0]["sources"]["online_fields"] >= 2, first
            numbers["parts"] = first["parts"]
            numbers["model_version"] = first["model_version"]
            latencies(c, f"{cg_url}/v1/predict", cg_bodies, 30, h)  # warm-up
            latencies(c, f"{ml_url}/invocations", ml_bodies, 30, {})
            # server-side CPU per request: a load-independent view next to wall-clock latency
            for name, url, bodies, hh, proc in (
                ("churnguard", f"{cg_url}/v1/predict", cg_bodies, h, cg),
                ("mlflow", f"{ml_url}/invocations", ml_bodies, {}, ml),
            ):
                cpu0 = group_cpu_s(proc.pid)
                numbers[f"{name}_single"] = pct(latencies(c, url, bodies, args.latency_requests, hh))
                numbers[f"{name}_single"]["server_cpu_ms_per_request"] = round(
                    (group_cpu_s(proc.pid) - cpu0) * 1000 / args.latency_requests, 2
                )
            numbers["churnguard_throughput"] = throughput(
                f"{cg_url}/v1/predict", cg_bodies, h, args.clients, args.seconds
            )
            numbers["mlflow_throughput"] = throughput(
                f"{ml_url}/invocations", ml_bodies, {}, args.clients, args.seconds
            )
            batch_ids = table["customer_id"].astype(str).sample(args.batch, random_state=1).tolist()
            batch_rows = table.set_index("customer_id").loc[batch_ids].reset_index()[feature_cols]
            ml_batch = {"dataframe_records": json.loads(batch_rows.to_json(orient="records", date_format="iso"))}
            for name, url, body, hh in (
                ("churnguard", f"{cg_url}/v1/predict", {"customers": [{"customer_id": i} for i in batch_ids]}, h),
                ("mlflow", f"{ml_url}/invocations", ml_batch, {}),
            ):
                c.post(url, json=body, headers=hh)
                t0 = time.perf_counter()
                for _ in range(5):
                    assert c.post(url, json=body, headers=hh).status_code == 200
                numbers[f"{name}_batch_rows_per_s"] = round(5 * args.batch / (time.perf_counter() - t0), 1)
    finally:
        for p in procs:
            stop(p)
        for key in rds.scan_iter(f"{prefix}*"):
            rds.delete(key)

    cg_rps, ml_rps = numbers["churnguard_throughput"]["requests_per_s"], numbers["mlflow_throughput"]["requests_per_s"]
    numbers["throughput_ratio_vs_mlflow"] = round(cg_rps / ml_rps, 2) if ml_rps else None
    numbers["batch_ratio_vs_mlflow"] = round(
        numbers["churnguard_batch_rows_per_s"] / numbers["mlflow_batch_rows_per_s"], 2
    )
    numbers["goals"] = {
        "p99_le_10ms": numbers["churnguard_single"]["p99_ms"] <= 10.0,
        "throughput_ratio_ge_3": (numbers["throughput_ratio_vs_mlflow"] or 0) >= 3.0,
    }
    numbers["load_average_at_start"] = load_start
    numbers["load_average_at_end"] = os.getloadavg()
    write_result(
        "serving",
        {
            "model_version": version,
            "model_digest_verified": verified,
            "clients": args.clients,
            "seconds": args.seconds,
            "latency_requests": args.latency_requests,
            "batch": args.batch,
            "note": "both servers: 1 process, 127.0.0.1; churnguard looks features up "
            "(parquet + Redis), mlflow gets them in the request",
        },
        numbers,
    )


if __name__ == "__main__":
    main()
