"""Integration: API keys (401) and the per-key rate limit (429) on the real app and model."""

from __future__ import annotations

from fastapi.testclient import TestClient

from churnguard.serving.app import create_app
from tests.serving.conftest import API_KEY, OTHER_KEY, make_config, make_holder


def test_keys_and_rate_limit(serving_store):
    cfg = make_config(serving_store, rate_limit={"per_second": 0.5, "burst": 3}, redis={"url": None})
    holder = make_holder(serving_store, cfg, pinned="models:/churnguard/1")
    client = TestClient(create_app(cfg, holder=holder, start_holder=False))
    body = {"customers": [{"customer_id": serving_store.customers[0]}]}

    for path in ("/v1/predict", "/v1/explain", "/v1/interventions"):
        r = client.post(path, json=body)
        assert r.status_code == 401 and "API key" in r.json()["detail"]
        assert client.post(path, json=body, headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.post(path, json={"bad": 1}).status_code == 401  # auth before validation
    assert client.get("/health").status_code == 200
    assert client.get("/metrics").status_code == 200

    r = client.post("/v1/predict", json=body, headers={"Authorization": f"Bearer {API_KEY}"})
    assert r.status_code == 200 and r.json()["degraded"] is False  # no online store configured: not degraded
    assert client.post("/v1/predict", json=body, headers={"X-API-Key": API_KEY}).status_code == 200
    assert client.post("/v1/predict", json=body, headers={"X-API-Key": API_KEY}).status_code == 200
    r = client.post("/v1/predict", json=body, headers={"X-API-Key": API_KEY})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    # the limit is per key
    assert client.post("/v1/predict", json=body, headers={"X-API-Key": OTHER_KEY}).status_code == 200
    assert 'status="429"' in client.get("/metrics").text


def test_bad_requests_name_the_field(serving_store):
    cfg = make_config(serving_store, redis={"url": None})
    holder = make_holder(serving_store, cfg, pinned="models:/churnguard/1")
    client = TestClient(create_app(cfg, holder=holder, start_holder=False), headers={"X-API-Key": API_KEY})
    cid = serving_store.customers[0]
    cases = [
        ({"customers": []}, ["body", "customers"]),
        ({"customers": [{"customer_id": ""}]}, ["body", "customers", 0, "customer_id"]),
        (
            {"customers": [{"customer_id": cid, "features": {"tenure_monthz": 3}}]},
            ["body", "customers", 0, "features", "tenure_monthz"],
        ),
        (
            {"customers": [{"customer_id": cid, "features": {"tenure_months": "long"}}]},
            ["body", "customers", 0, "features", "tenure_months"],
        ),
        (
            {"customers": [{"customer_id": cid, "features": {"contract": 2}}]},
            ["body", "customers", 0, "features", "contract"],
        ),
        ({"customers": [{"customer_id": cid, "colour": "red"}]}, ["body", "customers", 0, "colour"]),
    ]
    for body, loc in cases:
        r = client.post("/v1/predict", json=body)
        assert r.status_code == 422, (body, r.text)
        assert any(e["loc"][: len(loc)] == loc for e in r.json()["detail"]), (loc, r.json())
    r = client.post("/v1/predict", json={"customers": [{"customer_id": "NOPE-1"}]})
    assert r.status_code == 404 and r.json()["detail"]["customer_ids"] == ["NOPE-1"]
    # a new customer known only from the request is scored
    r = client.post("/v1/predict", json={"customers": [{"customer_id": "NEW-1", "features": {"tenure_months": 0.2}}]})
    assert r.status_code == 200 and r.json()["predictions"][0]["sources"]["batch"] is False
    r = client.post("/v1/explain", json={"customers": [{"customer_id": cid}]})
    assert r.status_code == 409 and "interventions" in r.json()["detail"]["msg"]
