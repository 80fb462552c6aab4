"""Issue #17: every metric name a Grafana dashboard or an alert rule uses appears in a LIVE scrape
of the running services. `churnguard serve` (the private workspace's registered champion, the
online store in Redis) and `churnguard stream` (the real broker, Redis, the same champion) run as
subprocesses, get a little traffic (events with one dead letter; a scored request and a refused
one), and their /metrics are read over HTTP as Prometheus would. Both are then stopped with
SIGTERM, as Kubernetes stops them: the stream job exits 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from churnguard.core.online_store import offsets_key
from churnguard.streaming.broker import free_port
from churnguard.streaming.schema import encode
from tests.ops.promql import used_metric_names
from tests.streaming.conftest import delete_prefix, make_config
from tests.streaming.test_stream import applied, publish, stream_env, write_topics
from tests.workspace import REPO

API_KEY = "live-scrape-key"


def scraped_names(url: str) -> set[str]:
    """Names of the samples a /metrics endpoint serves (HELP/TYPE lines alone do not count)."""
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    return {s.name for family in text_string_to_metric_families(body) for s in family.samples}


def http(url: str, body: dict | None = None, key: str | None = None) -> int:
    headers = {"Content-Type": "application/json", **({"X-API-Key": key} if key else {})}
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_for(check, what: str, procs: list[subprocess.Popen], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"{p.args[3]} exited ({p.returncode}) before {what}: {p.stdout.read()[-3000:]}")
        try:
            if check():
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "churnguard.cli", *cmd],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
    return proc.returncode, out


def traffic(cfg, customers: list[str]) -> int:
    """Two events per customer (just now) and one that is not JSON: applied events and a dead letter."""
    now = int(time.time() * 1000)
    good = [
        (c, encode(2 * i + k, c, 1, "add_to_cart", now - 1000 + 500 * k, "cart", 20.0 + k))
        for i, c in enumerate(customers)
        for k in (0, 1)
    ]
    publish(cfg, [*good, (customers[0], b"{not json")])
    return len(good) + 1


def test_every_dashboard_and_rule_metric_is_in_a_live_scrape(stream_workspace, broker, redis_db1):
    ws = stream_workspace
    cfg = make_config(broker.bootstrap, partitions=2)
    write_topics(ws, cfg)
    customers = pd.read_parquet(ws.root / "data" / "features" / "customers.parquet", columns=["customer_id"])
    ids = customers["customer_id"].astype(str).head(5).tolist()
    serve_port, metrics_port = free_port(), free_port()
    env = dict(stream_env(ws, cfg), CHURNGUARD_API_KEYS=API_KEY)
    online = ["--redis-url", cfg.redis_url]
    serve = start(
        ["serve", "--port", str(serve_port), *online, "--redis-prefix", cfg.key_prefix, "--log-level", "warning"], env
    )
    scrape = ["--metrics-port", str(metrics_port)]  # on 127.0.0.1 (streaming.metrics_host)
    stream = start(["stream", "--group", cfg.group_id, *online, "--prefix", cfg.key_prefix, *scrape], env)
    base, metrics = f"http://127.0.0.1:{serve_port}", f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        sent = traffic(cfg, ids)
        okey = offsets_key(cfg.group_id, cfg.key_prefix)
        wait_for(lambda: applied(redis_db1, okey) == sent, f"the job to apply {sent} events", [serve, stream])
        wait_for(lambda: http(f"{base}/health") == 200, "serving's champion", [serve, stream])
        assert http(f"{base}/v1/predict", {"customers": [{"customer_id": c} for c in ids]}, API_KEY) == 200
        assert http(f"{base}/v1/predict", {"customers": [{"customer_id": ids[0]}]}) == 401
        wait_for(lambda: "churnguard_stream_consumer_lag" in scraped_names(metrics), "the lag gauge", [stream])
        live = scraped_names(f"{base}/metrics") | scraped_names(metrics)
    finally:
        (serve_rc, serve_out), (stream_rc, stream_out) = stop(serve), stop(stream)
        delete_prefix(redis_db1, cfg.key_prefix)
    missing = {name: where for name, where in used_metric_names().items() if name not in live}
    assert not missing, f"used by dashboards/rules, absent from the live scrape: {missing}"
    assert stream_rc == 0 and "SIGTERM: stopped after the micro-batch in hand" in stream_out, stream_out[-2000:]
    assert f"consumed {sent} events: applied {sent - 1}, duplicates 0, dead letters 1" in stream_out
    # uvicorn shuts down on SIGTERM, then re-raises the signal it captured
    assert serve_rc in (0, -signal.SIGTERM), serve_out[-2000:]
