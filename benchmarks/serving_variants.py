"""Benchmark: the cost of a serving feature, same run with and without it (issues #18 and #17).

Every variant is a `churnguard serve` process on the same model version, all started at once and
measured in interleaved blocks of sequential single-customer predicts (plain, variant, plain,
variant, ...), so each sees the same machine. Per block: latency and the server's CPU per request
(the serving process alone, and its process group: a shadow process included).

- ``shadow``: ``--challenger shadow`` with the registry's ``challenger`` alias on another version
  (the challenger scores every request in its own process). After each shadow block the benchmark
  waits until the shadow process has caught up, so its work never lands in the next plain block;
  shadow lag and dropped customers come from ``/health`` and ``/metrics``.
- ``tracing``: ``OTEL_TRACES_EXPORTER=otlp`` to a local OTLP sink (BatchSpanProcessor, the SDK's
  defaults), every request traced; ``sampled``: the same with ``OTEL_TRACES_SAMPLER=traceidratio``
  at 10 %. The plain server has no ``OTEL_*`` at all, and the sink listens on OTLP's default
  port 4318 when free, so a plain server exporting anything would be seen (``exports_plain``).
  What tracing *off* costs per request is the no-op span of the OpenTelemetry API, timed here in
  this process (no SDK installed): ``noop_span_us``.

Goals: shadow adds <= 1 ms to p99; with OTEL unset nothing is exported and p99 is within noise
(noise = the spread of the plain blocks' p99). Run:

    .venv/bin/python benchmarks/serving_variants.py --variants shadow [--busy]
    .venv/bin/python benchmarks/serving_variants.py --variants tracing sampled

Writes benchmarks/results/serving_<variant>[_busy].json.
"""

from __future__ import annotations

import argparse
import http.server
import os
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.serving_harness import (
    KEY,
    LOGS,
    busy_core,
    champion,
    churnguard_cmd,
    free_port,
    group_cpu_s,
    latencies,
    load_average,
    online_features,
    pct,
    process_cpu_s,
    sample_customers,
    server_env,
    start,
    stop,
    wait_ready,
)
from churnguard.core.benchmarking import write_result

OTLP_DEFAULT_PORT = 4318


class Sink(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that counts exports by the service name inside the payload."""

    counts: ClassVar[dict[str, int]] = {}

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        for name in (b"bench-tracing", b"bench-sampled", b"churnguard-serve"):
            if name in body:
                Sink.counts[name.decode()] = Sink.counts.get(name.decode(), 0) + 1
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def start_sink() -> tuple[http.server.HTTPServer, int]:
    port = OTLP_DEFAULT_PORT
    try:
        server = http.server.HTTPServer(("127.0.0.1", port), Sink)
    except OSError:
        port = free_port()
        server = http.server.HTTPServer(("127.0.0.1", port), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def variant_setup(name: str, sink_port: int) -> tuple[list[str], dict[str, str]]:
    """(extra CLI flags, environment) of a variant."""
    plain_env = {k: v for k, v in server_env().items() if not k.startswith("OTEL_")}
    if name == "plain":
        return [], plain_env
    if name == "shadow":
        return ["--challenger", "shadow"], plain_env
    if name in ("tracing", "sampled"):
        env = dict(
            plain_env,
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{sink_port}/v1/traces",
            OTEL_SERVICE_NAME=f"bench-{name}",
        )
        if name == "sampled":
            env.update(OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="0.1")
        return [], env
    raise SystemExit(f"unknown variant {name!r}: shadow, tracing or sampled")


def noop_span_us(n: int = 100_000) -> float:
    """CPU of one request's span when no SDK is installed (tracing off): the API's no-op tracer."""
    from churnguard.core.telemetry import tracer

    t, attrs = tracer("bench"), {"churnguard.model_version": "1"}
    t0 = time.process_time()
    for _ in range(n):
        with t.start_as_current_span("churnguard.predict") as span:
            if span.is_recording():
                span.set_attributes(attrs)
    return round((time.process_time() - t0) / n * 1e6, 2)


def shadow_caught_up(c, url: str, expected: int, timeout: float = 30.0) -> dict:
    deadline = time.time() + timeout
    info: dict = {}
    while time.time() < deadline:
        info = c.get(f"{url}/health").json().get("challenger") or {}
        if (info.get("scored_rows") or 0) + (info.get("dropped") or 0) >= expected:
            break
        time.sleep(0.05)
    return info


def measure_block(c, name: str, server: dict, bodies: list, n: int) -> None:
    proc, url = server["proc"], server["url"]
    cpu_main, cpu_group = process_cpu_s(proc.pid), group_cpu_s(proc.pid)
    server["latency"].append(latencies(c, f"{url}/v1/predict", bodies, n, {"X-API-Key": KEY}))
    server["cpu_main_ms"].append((process_cpu_s(proc.pid) - cpu_main) * 1000 / n)
    server["sent"] += n
    if name == "shadow":
        server["health"] = shadow_caught_up(c, url, server["sent"])
    server["cpu_group_ms"].append((group_cpu_s(proc.pid) - cpu_group) * 1000 / n)


def summarise(server: dict) -> dict:
    pooled = np.concatenate(server["latency"])
    return {
        "single": pct(pooled),
        "block_p50_ms": [round(float(np.percentile(b, 50)), 2) for b in server["latency"]],
        "block_p99_ms": [round(float(np.percentile(b, 99)), 2) for b in server["latency"]],
        "server_cpu_ms_per_request": round(float(np.mean(server["cpu_main_ms"])), 3),
        "group_cpu_ms_per_request": round(float(np.mean(server["cpu_group_ms"])), 3),
    }


def start_servers(variants: list[str], version: str, verified: bool, prefix: str, sink_port: int) -> dict:
    servers = {}
    for name in ["plain", *variants]:
        flags, env = variant_setup(name, sink_port)
        port = free_port()
        log = LOGS / f"serving-{name}.log"
        proc = start(churnguard_cmd(port, version, prefix, verified, *flags), env, log)
        servers[name] = {"proc": proc, "url": f"http://127.0.0.1:{port}", "log": log, "sent": 0}
        servers[name].update(latency=[], cpu_main_ms=[], cpu_group_ms=[])
    return servers


def run(args, version: str, verified: bool) -> dict:
    import httpx

    _, sample = sample_customers()
    bodies = [{"customers": [{"customer_id": i}]} for i in sample["customer_id"].astype(str)]
    sink, sink_port = start_sink()
    numbers: dict = {"otlp_sink_port": sink_port}
    with online_features(sample) as prefix, busy_core(args.busy):
        servers = start_servers(args.variants, version, verified, prefix, sink_port)
        try:
            with httpx.Client(timeout=30) as c:
                for s in servers.values():
                    wait_ready(c, f"{s['url']}/health", s["proc"], s["log"])
                if "shadow" in servers:
                    shadow_ready(c, servers["shadow"]["url"])
                for name, s in servers.items():
                    latencies(c, f"{s['url']}/v1/predict", bodies, 30, {"X-API-Key": KEY})  # warm-up
                    if name == "shadow":
                        shadow_caught_up(c, s["url"], 30)
                    s["sent"] = 30
                for r in range(args.rounds):  # the order flips every round: neither variant always follows the other
                    for name, s in sorted(servers.items(), reverse=bool(r % 2)):
                        measure_block(c, name, s, bodies, args.block)
                if "shadow" in servers:
                    numbers["shadow_metrics"] = shadow_metrics(c.get(f"{servers['shadow']['url']}/metrics").text)
                    numbers["shadow_health"] = servers["shadow"].get("health")
        finally:
            for s in servers.values():
                stop(s["proc"])
    time.sleep(6)  # the BatchSpanProcessor's last export (every 5 s) reaches the sink before counting
    sink.shutdown()
    numbers.update({name: summarise(s) for name, s in servers.items()})
    numbers["exports_plain"] = Sink.counts.get("churnguard-serve", 0)
    numbers["exports_tracing"] = Sink.counts.get("bench-tracing", 0)
    numbers["exports_sampled"] = Sink.counts.get("bench-sampled", 0)
    return numbers


def shadow_ready(c, url: str, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = (c.get(f"{url}/health").json().get("challenger") or {}).get("state")
        if state == "ready":
            return
        if state in ("no_challenger", "failed", "stopped"):
            raise SystemExit(f"shadow process {state}: set the registry alias 'challenger' on another version")
        time.sleep(0.25)
    raise SystemExit("the shadow process did not load the challenger in time")


def shadow_metrics(text: str) -> dict:
    keep = (
        "churnguard_shadow_dropped_total",
        "churnguard_shadow_lag_seconds_sum",
        "churnguard_shadow_lag_seconds_count",
    )
    out = {}
    for line in text.splitlines():
        for name in keep:
            if line.startswith(name + " "):
                out[name] = float(line.split()[-1])
    if out.get("churnguard_shadow_lag_seconds_count"):
        out["mean_lag_ms"] = round(
            1000 * out["churnguard_shadow_lag_seconds_sum"] / out["churnguard_shadow_lag_seconds_count"], 2
        )
    return out


def goals(numbers: dict, variants: list[str]) -> dict:
    plain = numbers["plain"]
    noise = float(np.ptp(plain["block_p99_ms"])) if len(plain["block_p99_ms"]) > 1 else None
    out: dict = {"plain_block_p99_spread_ms": noise}
    for name in variants:
        added = numbers[name]["single"]["p99_ms"] - plain["single"]["p99_ms"]
        out[f"{name}_added_p99_ms"] = round(added, 2)
        out[f"{name}_added_p50_ms"] = round(numbers[name]["single"]["p50_ms"] - plain["single"]["p50_ms"], 2)
        if name == "shadow":
            out["shadow_added_p99_le_1ms"] = added <= 1.0
        if name in ("tracing", "sampled"):
            out[f"{name}_p99_within_noise"] = noise is not None and abs(added) <= noise
    out["nothing_exported_with_otel_unset"] = numbers["exports_plain"] == 0
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", nargs="+", choices=("shadow", "tracing", "sampled"), required=True)
    ap.add_argument("--version", help="champion version served by every variant (default: the champion)")
    ap.add_argument("--rounds", type=int, default=6, help="blocks per variant, interleaved")
    ap.add_argument("--block", type=int, default=200, help="sequential requests per block")
    ap.add_argument("--busy", action="store_true", help="a second process keeps one core busy")
    args = ap.parse_args()
    os.environ.pop("OTEL_SDK_DISABLED", None)
    load_start = load_average()
    version, verified = champion(args.version)
    numbers = run(args, version, verified)
    numbers["noop_span_us"] = noop_span_us()
    numbers["goals"] = goals(numbers, args.variants)
    numbers["load_average_at_start"], numbers["load_average_at_end"] = load_start, load_average()
    run_info = {"model_version": version, "rounds": args.rounds, "block": args.block, "busy_core": args.busy}
    name = "serving_" + "_".join(args.variants) + ("_busy" if args.busy else "")
    write_result(name, run_info, numbers)
    for v in ["plain", *args.variants]:
        n = numbers[v]
        print(
            f"{v}: p50 {n['single']['p50_ms']} ms, p99 {n['single']['p99_ms']} ms (blocks {n['block_p99_ms']}), "
            f"CPU {n['server_cpu_ms_per_request']} ms/request (group {n['group_cpu_ms_per_request']})"
        )
    print(f"goals: {numbers['goals']}; load {load_start} -> {numbers['load_average_at_end']}")


if __name__ == "__main__":
    main()
