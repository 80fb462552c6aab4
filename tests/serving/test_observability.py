"""Issue #17 for serving: a span per request carrying the model version (in-memory exporter), process
and GC metrics, the score histogram and the protection/attack counters, on a real app and model."""

from __future__ import annotations

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from churnguard.core import telemetry
from churnguard.serving.app import create_app
from tests.serving.conftest import API_KEY, make_config, make_holder


def test_request_span_carries_the_model_version_and_metrics_cover_the_process(serving_store):
    exporter = InMemorySpanExporter()
    assert telemetry.init_tracing("churnguard-serve", exporter=exporter)
    cfg = make_config(serving_store, redis={"url": None})
    holder = make_holder(serving_store, cfg, pinned="models:/churnguard/1")
    client = TestClient(create_app(cfg, holder=holder, start_holder=False), headers={"X-API-Key": API_KEY})
    ids = serving_store.customers[:5]
    r = client.post("/v1/predict", json={"customers": [{"customer_id": c} for c in ids]})
    assert r.status_code == 200

    spans = [s for s in exporter.get_finished_spans() if s.name == "churnguard.predict"]
    assert len(spans) == 1
    attrs = spans[0].attributes
    assert attrs["churnguard.model_version"] == "1" and attrs["churnguard.rows"] == 5
    assert attrs["churnguard.degraded"] is False and "base" in attrs["churnguard.parts"]
    assert attrs["churnguard.arms"] == ("champion",) and attrs["churnguard.arm_versions"] == ("1",)

    text = client.get("/metrics").text
    for name in (
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "python_gc_objects_collected_total",
        "python_info",
        "churnguard_churn_probability_count 5.0",
        "churnguard_model_refused_total 0.0",
        "churnguard_auth_throttled_total 0.0",
        "churnguard_requests_total",
        "churnguard_request_seconds_bucket",
        "churnguard_scored_rows_total",
        "churnguard_model_version 1.0",
        "churnguard_model_load_failures_total 0.0",
        "churnguard_model_registered_timestamp_seconds 1.",
    ):
        assert name in text, name
    if "protection" in holder.current.parts:  # every scored row has a verdict
        verdicts = [line for line in text.splitlines() if line.startswith("churnguard_protection_verdicts_total{")]
        assert sum(float(line.rsplit(" ", 1)[1]) for line in verdicts) == 5.0
