"""Property-based: schemathesis generates requests from the app's own OpenAPI spec.

Valid (positive) and invalid (negative) requests over every operation, at least 1,000 in
all, against the real app holding a real MLflow version with every route's part (v2);
not one may get a 5xx. The generated bodies also get the real customer ids from the spec's
examples, so the model itself is exercised, not only validation.
"""

from __future__ import annotations

import os
from collections import Counter

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from churnguard.serving.app import create_app
from tests.serving.conftest import API_KEY, make_config, make_holder

N_REQUESTS = int(os.environ.get("CHURNGUARD_FUZZ_REQUESTS", "1000"))


def test_openapi_fuzz_no_server_errors(serving_store):
    cfg = make_config(serving_store, redis={"url": None})
    holder = make_holder(serving_store, cfg, pinned="models:/churnguard/2")
    app = create_app(cfg, holder=holder, start_holder=False)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    ids = serving_store.customers[:10]

    strategy = st.one_of(schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE))
    seen: Counter = Counter()
    failures: list[str] = []

    @settings(
        max_examples=N_REQUESTS, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(
        case=strategy,
        known=st.sampled_from(ids),
        mix=st.sampled_from(["as_is", "known_id", "known_plain"]),
        keyed=st.integers(0, 9),
    )
    def run(case, known, mix, keyed):
        body = case.body
        if mix != "as_is" and isinstance(body, dict) and isinstance(body.get("customers"), list):
            for c in body["customers"][:3]:
                if isinstance(c, dict):
                    c["customer_id"] = known
                    if mix == "known_plain":
                        c.pop("features", None)
        keyed = keyed != 7  # (not 0: hypothesis favours boundaries) 1 in ~10 keeps the generated key or none
        headers = {k: v for k, v in (case.headers or {}).items() if not (keyed and k.lower() == "x-api-key")}
        if keyed:
            headers["X-API-Key"] = API_KEY
        case.headers = headers
        r = case.call()  # schemathesis serializes the body (negative ones too), in-process ASGI
        seen[(case.operation.label, r.status_code)] += 1
        if r.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} {body!r:.300} -> {r.status_code} {r.text[:200]}")

    run()
    total = sum(seen.values())
    print(f"{total} requests:", dict(sorted(seen.items())))
    assert total >= 1000
    assert not failures, f"{len(failures)} server errors, e.g. {failures[:3]}"
    # the model was really exercised, on every operation
    for label in ("POST /v1/predict", "POST /v1/explain", "POST /v1/interventions"):
        assert seen[(label, 200)] > 0, (label, seen)
        assert seen[(label, 422)] > 0, (label, seen)
