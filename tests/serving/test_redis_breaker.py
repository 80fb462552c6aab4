"""Integration: Redis slow or stopped mid-test -> degraded answers from batch features, zero 5xx.

Uses its own redis-server on a free port (started and killed by PID here), never the
machine's Redis on 6379.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time

import pytest
import redis
from fastapi.testclient import TestClient

from churnguard.serving.app import create_app
from tests.serving.conftest import API_KEY, free_port, make_config, make_holder

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")


def start_redis(port: int, tmp_path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
            "--enable-debug-command",
            "local",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    client = redis.Redis(port=port)
    deadline = time.time() + 10
    while True:
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            if time.time() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)


def stop_redis(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_redis_slow_or_down_gives_degraded_answers(serving_store, tmp_path):
    port = free_port()
    proc = start_redis(port, tmp_path)
    try:
        url = f"redis://127.0.0.1:{port}/2"
        cid = serving_store.customers[1]
        redis.Redis.from_url(url).hset(f"cg:user:{cid}", mapping={"support_tickets_90d": "9"})
        cfg = make_config(
            serving_store,
            redis={"url": url, "prefix": "cg:user:", "timeout_ms": 300, "failure_threshold": 2, "reset_after_s": 3.0},
        )
        holder = make_holder(serving_store, cfg, pinned="models:/churnguard/1")
        client = TestClient(create_app(cfg, holder=holder, start_holder=False), raise_server_exceptions=False)
        h = {"X-API-Key": API_KEY}
        body = {"customers": [{"customer_id": cid}, {"customer_id": serving_store.customers[2]}]}
        statuses: list[int] = []

        def ask() -> dict:
            r = client.post("/v1/predict", json=body, headers=h)
            statuses.append(r.status_code)
            return r.json()

        ok = ask()
        assert ok["degraded"] is False and ok["predictions"][0]["sources"]["online_fields"] == 1

        # slow: Redis blocks for 2 s; the 300 ms timeout answers from batch features
        sleeper = threading.Thread(target=lambda: redis.Redis(port=port).execute_command("DEBUG", "SLEEP", "2"))
        sleeper.start()
        time.sleep(0.2)
        t0 = time.perf_counter()
        slow = ask()
        waited = time.perf_counter() - t0
        sleeper.join()
        assert slow["degraded"] is True and slow["predictions"][0]["sources"]["online_fields"] == 0
        assert waited < 1.8, f"a slow Redis held the request for {waited:.2f}s"

        # down: killed mid-test; every answer degraded, the breaker opens, health says so
        stop_redis(proc)
        answers = [ask() for _ in range(6)]
        assert all(a["degraded"] is True for a in answers)
        assert answers[-1]["predictions"][0]["churn_probability"] == slow["predictions"][0]["churn_probability"]
        health = client.get("/health").json()
        assert health["dependencies"]["redis"] in ("down", "degraded") and health["status"] == "degraded"
        assert client.get("/v1/predict", headers=h).status_code == 405  # unrelated routes unaffected
        assert "churnguard_redis_breaker_open 1.0" in client.get("/metrics").text

        # back: after reset_after_s (3 s) one trial call closes the breaker again
        proc = start_redis(port, tmp_path)
        redis.Redis.from_url(url).hset(f"cg:user:{cid}", mapping={"support_tickets_90d": "9"})
        time.sleep(3.2)
        deadline = time.time() + 10
        while ask()["degraded"]:
            assert time.time() < deadline, "breaker never closed after Redis came back"
            time.sleep(0.3)
        assert client.get("/health").json()["dependencies"]["redis"] == "up"
        assert not [s for s in statuses if s >= 500] and set(statuses) == {200}, statuses
    finally:
        stop_redis(proc)
