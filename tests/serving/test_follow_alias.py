"""Integration: a promotion is picked up within the poll interval under load, with zero errors.

Real MLflow SQLite store (two registered versions), real Redis (db 2, unique prefix),
real HTTP (uvicorn on 127.0.0.1).
"""

from __future__ import annotations

import threading
import time

import httpx

from churnguard.serving.app import create_app
from tests.serving.conftest import API_KEY, MODEL, ServerThread, make_config, make_holder

POLL_S = 1.0


def test_promotion_is_followed_without_errors(serving_store, redis_prefix):
    from churnguard.mlops.promotion import move_alias
    from mlflow import MlflowClient

    rclient, prefix = redis_prefix
    cid = serving_store.customers[0]
    rclient.hset(
        f"{prefix}{cid}", mapping={"support_tickets_90d": "7", "rt_churn_probability": "0.42", "updated_ms": "1"}
    )
    cfg = make_config(serving_store, poll_interval_s=POLL_S, redis={"prefix": prefix})
    holder = make_holder(serving_store, cfg)
    assert holder.current.version == "1"
    app = create_app(cfg, holder=holder)
    stop = threading.Event()
    results: list[list[tuple[int, str | None]]] = [[] for _ in range(3)]

    def load(slot: int) -> None:
        with httpx.Client(headers={"X-API-Key": API_KEY}, timeout=30) as c:
            i = 0
            while not stop.is_set():
                body = {"customers": [{"customer_id": serving_store.customers[(slot * 7 + i) % 50]}]}
                try:
                    r = c.post(f"{server.url}/v1/predict", json=body)
                    results[slot].append((r.status_code, r.json().get("model_version")))
                except Exception as exc:  # a dropped connection is an error too
                    results[slot].append((-1, repr(exc)))
                i += 1

    try:
        with ServerThread(app) as server, httpx.Client(headers={"X-API-Key": API_KEY}, timeout=30) as c:
            # online features are merged; the request's own field wins over the online one
            r = c.post(f"{server.url}/v1/predict", json={"customers": [{"customer_id": cid}]}).json()
            p = r["predictions"][0]
            assert r["degraded"] is False and p["sources"]["online_fields"] == 1 and p["realtime_probability"] == 0.42
            r2 = c.post(
                f"{server.url}/v1/predict",
                json={"customers": [{"customer_id": cid, "features": {"support_tickets_90d": 0}}]},
            ).json()
            assert r2["predictions"][0]["sources"] == {"batch": True, "online_fields": 1, "request_fields": 1}
            assert r2["predictions"][0]["churn_probability"] != p["churn_probability"]
            # v1 has no interventions part: a clear 409 naming it
            r = c.post(f"{server.url}/v1/interventions", json={"customers": [{"customer_id": cid}]})
            assert r.status_code == 409 and r.json()["detail"]["missing_part"] == "interventions"

            threads = [threading.Thread(target=load, args=(k,)) for k in range(3)]
            for t in threads:
                t.start()
            time.sleep(2.0)
            moved_at = time.time()
            move_alias(
                MlflowClient(serving_store.uri, serving_store.uri), MODEL, "champion", "2", why="test", who="tests"
            )
            deadline = time.time() + 90
            while c.get(f"{server.url}/health").json()["model"]["version"] != "2":
                assert time.time() < deadline, f"never swapped: {holder.last_error}"
                time.sleep(0.1)
            swapped_at = time.time()
            time.sleep(1.5)
            stop.set()
            for t in threads:
                t.join(timeout=60)

            health = c.get(f"{server.url}/health").json()
            assert "interventions" in health["model"]["parts"] and health["model"]["swaps"] == 2
            r = c.post(f"{server.url}/v1/interventions", json={"customers": [{"customer_id": cid}], "top_k": 2})
            assert r.status_code == 200
            offers = r.json()["customers"][0]["offers"]
            assert 1 <= len(offers) <= 2 and [o["rank"] for o in offers] == sorted(o["rank"] for o in offers)
            r = c.post(f"{server.url}/v1/explain", json={"customers": [{"customer_id": cid}]})
            assert r.status_code == 200 and len(r.json()["explanations"]) == 1
            metrics = c.get(f"{server.url}/metrics").text
            assert "churnguard_model_version 2.0" in metrics and "churnguard_model_swaps_total 2.0" in metrics
    finally:
        stop.set()
        holder.stop()

    flat = [x for slot in results for x in slot]
    errors = [x for x in flat if x[0] != 200]
    assert len(flat) >= 6 and not errors, f"{len(errors)} errors of {len(flat)}: {errors[:5]}"
    for slot in results:  # each client sees v1 then v2, never back
        versions = [v for _, v in slot]
        assert versions == sorted(versions), versions
    assert {v for _, v in flat} == {"1", "2"}
    detected = holder.seen_at["2"] - moved_at
    assert detected <= POLL_S + 2.0, f"alias move seen after {detected:.2f}s (poll every {POLL_S}s)"
    print(f"requests={len(flat)} detected_after_s={detected:.2f} swapped_after_s={swapped_at - moved_at:.2f}")
