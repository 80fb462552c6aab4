"""Every case of tests/serving/hostile_corpus.json against a real uvicorn server (real MLflow version,
real Redis db 2): each answer has its expected status, none is a 5xx, every error body is strict
JSON and short. Prints the number of cases and the outcomes by status code."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import httpx

from churnguard.serving.app import create_app
from tests.serving import rawhttp
from tests.serving.conftest import API_KEY, ServerThread, make_config, make_holder

CORPUS = Path(__file__).with_name("hostile_corpus.json")
LIMIT = 256_000
HEADERS = {
    "good": {"X-API-Key": API_KEY},
    "none": {},
    "wrong": {"X-API-Key": "not-a-key"},
    "empty": {"X-API-Key": ""},
    "long": {"X-API-Key": "k" * 10_000},
    "bearer": {"Authorization": f"Bearer {API_KEY}"},
    "bearer_wrong": {"Authorization": "Bearer nope"},
}


def _strict(text: str):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def body_bytes(case: dict, cid: str) -> bytes | None:
    mode = case["mode"]
    if mode == "json":
        return None if case["method"] == "GET" else json.dumps(case["body"]).replace("{CID}", cid).encode()
    if mode == "raw":
        return case["raw"].replace("{CID}", cid).encode()
    if mode == "hex":
        return bytes.fromhex(case["hex"])
    if mode == "utf16":
        return json.dumps(case["body"]).replace("{CID}", cid).encode("utf-16")
    gen = case["gen"]
    if "customers" in gen:
        return json.dumps({"customers": [{"customer_id": cid}] * gen["customers"]}).encode()
    return (gen["prefix"] + gen["repeat"] * gen["times"] + gen["suffix"]).replace("{CID}", cid).encode()


def run_case(client: httpx.Client, port: int, case: dict, cid: str) -> tuple[int, bytes]:
    headers = dict(HEADERS[case["key"]])
    if case["mode"] == "declare":
        status, _, body = rawhttp.declare_only(port, case["path"], headers, case["declare"])
        return status, body
    if case["mode"] == "stream":
        chunk = (case["chunk"] * case.get("chunk_times", 1)).encode()
        return rawhttp.stream_until_answered(port, case["path"], headers, chunk, case["max_bytes"])[0], b"{}"
    headers["Content-Type"] = case.get("content_type", "application/json")
    r = client.request(case["method"], case["path"], content=body_bytes(case, cid), headers=headers)
    return r.status_code, r.content


def test_hostile_corpus(serving_store, redis_prefix):
    cases = json.loads(CORPUS.read_text())["cases"]
    assert len(cases) >= 60
    _, prefix = redis_prefix
    cfg = make_config(serving_store, redis={"prefix": prefix}, max_body_bytes=LIMIT)
    holder = make_holder(serving_store, cfg, pinned="models:/churnguard/1")
    cid = serving_store.customers[0]
    outcomes: Counter = Counter()
    wrong: list[str] = []
    with (
        ServerThread(create_app(cfg, holder=holder, start_holder=False)) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        for case in cases:
            status, body = run_case(client, server.port, case, cid)
            outcomes[status] += 1
            if status not in case["expect"]:
                wrong.append(f"{case['name']}: {status} (expected {case['expect']}) {body[:200]!r}")
            elif status >= 400 and status != 413 and case["mode"] != "stream":
                detail = _strict(body.decode())["detail"]  # strict JSON, never a NaN echoed back
                assert len(body) < 8_000, (case["name"], len(body))
                if status == 422:
                    assert all("loc" in e and "msg" in e for e in detail), (case["name"], detail)
        assert client.get("/health").status_code == 200  # still standing after all of it
    print(f"\nhostile corpus: {len(cases)} cases; outcomes by status: {dict(sorted(outcomes.items()))}")
    assert not [s for s in outcomes if s >= 500], outcomes
    assert not wrong, "\n".join(wrong)
