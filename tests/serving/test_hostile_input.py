"""Findings 5-8 of the hostile-input review, each reproduced against a real uvicorn server holding a
real MLflow version (and real Redis where it matters)."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from churnguard.serving.app import create_app
from tests.serving import rawhttp
from tests.serving.conftest import API_KEY, ServerThread, free_port, make_config, make_holder
from tests.serving.test_redis_breaker import start_redis, stop_redis

KEY = {"X-API-Key": API_KEY}
LIMIT = 256_000


def serve(store, **overrides):
    cfg = make_config(store, redis={"url": None}, max_body_bytes=LIMIT, **overrides)
    holder = make_holder(store, cfg, pinned="models:/churnguard/1")
    return ServerThread(create_app(cfg, holder=holder, start_holder=False))


def one(cid: str, **features) -> dict:
    return {"customers": [{"customer_id": cid, "features": features}]}


def test_5_key_checked_before_the_body_and_bodies_are_limited(serving_store):
    with serve(serving_store) as server:
        port = server.port
        # a 100 MB body is declared but never sent: the answer comes without reading it
        assert rawhttp.declare_only(port, "/v1/predict", {}, 100_000_000)[0] == 401
        assert rawhttp.declare_only(port, "/v1/predict", {"X-API-Key": "wrong"}, 100_000_000)[0] == 401
        assert rawhttp.send_body(port, "/v1/predict", {}, b'{"customers": [not json')[0] == 401
        status, headers, body = rawhttp.declare_only(port, "/v1/predict", KEY, 100_000_000)
        assert status == 413 and str(LIMIT) in json.loads(body)["detail"] and headers["connection"] == "close"
        # no Content-Length (chunked): reading stops at the limit, the client cannot push 64 MB in
        status, sent = rawhttp.stream_until_answered(port, "/v1/predict", KEY, b" " * 65536, 64 << 20)
        assert status == 413 and sent < 64 << 20
        # a slow upload in progress does not hold /health (or anyone else) up
        with socket.create_connection(("127.0.0.1", port)) as slow:
            slow.sendall(
                b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nX-API-Key: "
                + API_KEY.encode()
                + b"\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n"
                + b" " * 1000
            )
            with httpx.Client(base_url=server.url, timeout=10, headers=KEY) as c:
                assert c.get("/health").status_code == 200
                assert c.post("/v1/predict", json=one(serving_store.customers[0])).status_code == 200
                assert 'churnguard_rejected_requests_total{reason="body_too_large"} 2.0' in c.get("/metrics").text


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e309", "-1e309"])
def test_6_non_finite_numbers_are_422_naming_the_field(serving_store, literal):
    cid = serving_store.customers[0]
    raw = f'{{"customers": [{{"customer_id": "{cid}", "features": {{"tenure_months": {literal}}}}}]}}'.encode()
    with serve(serving_store) as server:
        status, _, body = rawhttp.send_body(server.port, "/v1/predict", KEY, raw)
    assert status == 422, body[:300]
    detail = json.loads(body)["detail"]  # strict JSON: no NaN came back
    assert detail[0]["loc"][:5] == ["body", "customers", 0, "features", "tenure_months"]


def test_6_a_big_bad_body_gets_a_small_error(serving_store):
    cid = serving_store.customers[0]
    with serve(serving_store) as server, httpx.Client(base_url=server.url, timeout=30, headers=KEY) as c:
        r = c.post("/v1/predict", json=one(cid, plan="x" * 200_000))
        assert r.status_code == 422 and len(r.content) < 2_000
        first = r.json()["detail"][0]
        assert first["loc"][:5] == ["body", "customers", 0, "features", "plan"] and len(first["input_preview"]) <= 41
        many = {"customers": [{"customer_id": cid, "features": {"plan": 1}} for _ in range(1000)]}
        r = c.post("/v1/predict", json=many)
        assert r.status_code == 422 and len(r.json()["detail"]) == 20 and r.json()["error_count"] >= 1000
        assert c.post("/v1/predict", content=b"{" * (LIMIT + 1)).status_code == 413


def test_7_impossible_values_are_refused_or_flagged_and_imputation_is_said(serving_store):
    cid = serving_store.customers[0]
    impossible = {"tenure_months": -1e6, "age": -50, "total_charges": 1e308}
    with serve(serving_store) as server, httpx.Client(base_url=server.url, timeout=30, headers=KEY) as c:
        for name, value in impossible.items():
            r = c.post("/v1/predict", json=one(cid, **{name: value}))
            assert r.status_code == 422, (name, r.text)
            err = r.json()["detail"][0]
            assert err["loc"][-1] == name and err["type"] == "out_of_bounds" and "accepted range" in err["msg"]
        # a 2-month customer without total_charges: the model imputes it, and the answer says so
        new = {"tenure_months": 2.0, "monthly_charges": 80.0, "contract": "month_to_month"}
        without = c.post("/v1/predict", json=one("NEW-2M", **new)).json()["predictions"][0]
        assert "total_charges" in without["imputed_features"]
        with_it = c.post("/v1/predict", json=one("NEW-2M", total_charges=160.0, **new)).json()["predictions"][0]
        assert "total_charges" not in with_it["imputed_features"]
        assert c.post("/v1/predict", json=one(cid)).json()["predictions"][0]["out_of_bounds"] == []
    with (
        serve(serving_store, validation={"out_of_bounds": "flag", "required_features": ["total_charges"]}) as server,
        httpx.Client(base_url=server.url, timeout=30, headers=KEY) as c,
    ):
        p = c.post("/v1/predict", json=one(cid, **impossible)).json()["predictions"][0]
        assert sorted(p["out_of_bounds"]) == sorted(impossible)  # scored, but flagged
        r = c.post("/v1/predict", json=one("NEW-2M", **new))
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "total_charges"
        assert r.json()["detail"][0]["type"] == "missing"
        assert c.post("/v1/predict", json=one("NEW-2M", total_charges=160.0, **new)).status_code == 200


def test_8_failed_keys_are_throttled_per_client(serving_store):
    body = one(serving_store.customers[0])
    with (
        serve(serving_store, auth={"failed_per_second": 0.01, "failed_burst": 5}) as server,
        httpx.Client(base_url=server.url, timeout=30) as c,
    ):
        statuses = [
            c.post("/v1/predict", json=body, headers={"X-API-Key": f"guess-{i}"}).status_code for i in range(30)
        ]
        assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
        r = c.post("/v1/predict", json=body, headers=KEY)  # while throttled, a right key is no oracle
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        metrics = c.get("/metrics").text
        assert "churnguard_auth_failures_total 5.0" in metrics and "churnguard_auth_throttled_total 26.0" in metrics


def test_8_health_recovers_when_redis_comes_back(serving_store, tmp_path):
    port = free_port()
    proc = start_redis(port, tmp_path)
    try:
        cfg = make_config(
            serving_store,
            redis={
                "url": f"redis://127.0.0.1:{port}/2",
                "prefix": "cg:user:",
                "timeout_ms": 300,
                "failure_threshold": 1,
                "reset_after_s": 0.5,
            },
        )
        holder = make_holder(serving_store, cfg, pinned="models:/churnguard/1")
        with (
            ServerThread(create_app(cfg, holder=holder, start_holder=False)) as server,
            httpx.Client(base_url=server.url, timeout=30, headers=KEY) as c,
        ):
            assert c.get("/health").json()["status"] == "ok"
            stop_redis(proc)
            assert c.post("/v1/predict", json=one(serving_store.customers[0])).json()["degraded"] is True
            down = c.get("/health").json()
            assert down["dependencies"]["redis"] != "up" and "Error" in (down["last_error"] or "")
            proc = start_redis(port, tmp_path)
            deadline = time.time() + 20
            while (h := c.get("/health").json())["dependencies"]["redis"] != "up":  # no predict traffic needed
                assert time.time() < deadline, h
                time.sleep(0.2)
            assert h["status"] == "ok" and h["last_error"] is None
    finally:
        stop_redis(proc)
