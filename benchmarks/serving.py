"""Benchmark: churnguard serving vs `mlflow models serve` on the same model version (issue #21 item 5).

One script, both servers started here on 127.0.0.1 (and stopped by process group):

- churnguard (`churnguard serve`, 1 process): single-customer predict over HTTP with online
  features in Redis (db 2, a unique key prefix, removed afterwards): p50/p99 latency,
  sequential, and the server's CPU per request; then throughput (requests/s) with C concurrent
  clients; batch rows/s.
- `mlflow models serve --env-manager local` (1 worker) on the same registered version:
  the same customers' feature rows sent as `dataframe_records` (it cannot look features up),
  same clients, same duration.
- ratio = churnguard requests/s / MLflow requests/s (goal >= 3x), p99 goal <= 10 ms, server CPU
  goal <= 1.5 ms per single predict.
- ``--busy``: a second process keeps one of the cores busy for the whole run (the loaded condition).

Run: `.venv/bin/python benchmarks/serving.py [--version V] [--seconds S] [--busy]`. Uses the
workspace of CHURNGUARD_HOME (its MLflow store and data/features/customers.parquet).
Writes benchmarks/results/serving.json (serving_busy.json with --busy).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.serving_harness import (
    DROP,
    KEY,
    LOGS,
    VENV_BIN,
    busy_core,
    champion,
    churnguard_cmd,
    free_port,
    group_cpu_s,
    latencies,
    load_average,
    online_features,
    pct,
    sample_customers,
    server_env,
    start,
    stop,
    throughput,
    wait_ready,
)
from churnguard.core.benchmarking import write_result


def mlflow_cmd(port: int, version: str) -> list[str]:
    return [
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
        str(port),
        "-w",
        "1",
    ]


def single_and_throughput(c, servers: dict, args) -> dict:
    """Sequential latency + server CPU per request, then concurrent throughput, for each server."""
    numbers: dict = {}
    for url, bodies, headers, _ in servers.values():
        latencies(c, url, bodies, 30, headers)  # warm-up
    for name, (url, bodies, headers, proc) in servers.items():
        cpu0 = group_cpu_s(proc.pid)
        numbers[f"{name}_single"] = pct(latencies(c, url, bodies, args.latency_requests, headers))
        cpu = (group_cpu_s(proc.pid) - cpu0) * 1000 / args.latency_requests
        numbers[f"{name}_single"]["server_cpu_ms_per_request"] = round(cpu, 2)
    for name, (url, bodies, headers, _) in servers.items():
        numbers[f"{name}_throughput"] = throughput(url, bodies, headers, args.clients, args.seconds)
    return numbers


def batch_rows_per_s(c, table, feature_cols: list[str], cg_url: str, ml_url: str, batch: int) -> dict:
    ids = table["customer_id"].astype(str).sample(batch, random_state=1).tolist()
    rows = table.set_index("customer_id").loc[ids].reset_index()[feature_cols]
    ml_batch = {"dataframe_records": json.loads(rows.to_json(orient="records", date_format="iso"))}
    numbers = {}
    for name, url, body, headers in (
        ("churnguard", f"{cg_url}/v1/predict", {"customers": [{"customer_id": i} for i in ids]}, {"X-API-Key": KEY}),
        ("mlflow", f"{ml_url}/invocations", ml_batch, {}),
    ):
        c.post(url, json=body, headers=headers)
        t0 = time.perf_counter()
        for _ in range(5):
            assert c.post(url, json=body, headers=headers).status_code == 200
        numbers[f"{name}_batch_rows_per_s"] = round(5 * batch / (time.perf_counter() - t0), 1)
    return numbers


def run(args, version: str, verified: bool) -> dict:
    import httpx

    table, sample = sample_customers()
    ids = sample["customer_id"].astype(str).tolist()
    feature_cols = [c for c in table.columns if c not in DROP]
    numbers: dict = {}
    cg_port, ml_port = free_port(), free_port()
    with online_features(sample) as prefix, busy_core(args.busy):
        cg = start(churnguard_cmd(cg_port, version, prefix, verified), server_env(), LOGS / "serving-churnguard.log")
        ml = start(mlflow_cmd(ml_port, version), server_env(), LOGS / "serving-mlflow.log")
        try:
            with httpx.Client(timeout=30) as c:
                cg_url, ml_url = f"http://127.0.0.1:{cg_port}", f"http://127.0.0.1:{ml_port}"
                numbers["churnguard_ready_s"] = round(
                    wait_ready(c, f"{cg_url}/health", cg, LOGS / "serving-churnguard.log"), 1
                )
                numbers["mlflow_ready_s"] = round(wait_ready(c, f"{ml_url}/ping", ml, LOGS / "serving-mlflow.log"), 1)
                cg_bodies = [{"customers": [{"customer_id": i}]} for i in ids]
                records = sample[feature_cols].to_json(orient="records", date_format="iso")
                ml_bodies = [{"dataframe_records": [r]} for r in json.loads(records)]
                first = c.post(f"{cg_url}/v1/predict", json=cg_bodies[0], headers={"X-API-Key": KEY}).json()
                assert first["predictions"][0]["sources"]["online_fields"] >= 2, first
                numbers["parts"], numbers["model_version"] = first["parts"], first["model_version"]
                servers = {
                    "churnguard": (f"{cg_url}/v1/predict", cg_bodies, {"X-API-Key": KEY}, cg),
                    "mlflow": (f"{ml_url}/invocations", ml_bodies, {}, ml),
                }
                numbers.update(single_and_throughput(c, servers, args))
                numbers.update(batch_rows_per_s(c, table, feature_cols, cg_url, ml_url, args.batch))
        finally:
            stop(cg)
            stop(ml)
    return numbers


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", help="model version (default: the champion)")
    ap.add_argument("--seconds", type=float, default=8.0, help="throughput window per server")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--latency-requests", type=int, default=300)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--busy", action="store_true", help="a second process keeps one core busy")
    args = ap.parse_args()

    load_start = load_average()
    version, verified = champion(args.version)
    numbers = run(args, version, verified)
    cg_rps, ml_rps = numbers["churnguard_throughput"]["requests_per_s"], numbers["mlflow_throughput"]["requests_per_s"]
    numbers["throughput_ratio_vs_mlflow"] = round(cg_rps / ml_rps, 2) if ml_rps else None
    numbers["batch_ratio_vs_mlflow"] = round(
        numbers["churnguard_batch_rows_per_s"] / numbers["mlflow_batch_rows_per_s"], 2
    )
    single = numbers["churnguard_single"]
    numbers["goals"] = {
        "server_cpu_le_1_5ms": single["server_cpu_ms_per_request"] <= 1.5,
        "p99_le_10ms": single["p99_ms"] <= 10.0,
        "throughput_ratio_ge_3": (numbers["throughput_ratio_vs_mlflow"] or 0) >= 3.0,
    }
    numbers["load_average_at_start"], numbers["load_average_at_end"] = load_start, load_average()
    note = "both servers: 1 process, 127.0.0.1; churnguard looks features up (parquet + Redis), mlflow gets them"
    run_info = {
        "model_version": version,
        "model_digest_verified": verified,
        "clients": args.clients,
        "seconds": args.seconds,
        "latency_requests": args.latency_requests,
        "batch": args.batch,
        "busy_core": args.busy,
        "note": note + (" in the request; a second process kept one core busy" if args.busy else " in the request"),
    }
    write_result("serving_busy" if args.busy else "serving", run_info, numbers)
    print(
        f"churnguard p50 {single['p50_ms']} ms, p99 {single['p99_ms']} ms, server CPU "
        f"{single['server_cpu_ms_per_request']} ms/request; mlflow {numbers['mlflow_single']['p99_ms']} ms p99, "
        f"{numbers['mlflow_single']['server_cpu_ms_per_request']} ms CPU; throughput {cg_rps} vs {ml_rps} req/s "
        f"= {numbers['throughput_ratio_vs_mlflow']}x; load {load_start} -> {numbers['load_average_at_end']}"
    )


if __name__ == "__main__":
    main()
