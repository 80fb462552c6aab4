"""Unit tests of pure logic: circuit breaker and token bucket (fake clocks, no services)."""

from __future__ import annotations

from churnguard.serving.features import CircuitBreaker
from churnguard.serving.security import KeyRing, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_breaker_opens_half_opens_and_closes():
    clock = Clock()
    b = CircuitBreaker(failures=2, reset_after_s=5, clock=clock)
    assert b.allow() and b.state == "closed"
    b.failure()
    assert b.state == "closed"
    b.failure()
    assert b.state == "open" and not b.allow()
    clock.t = 5.0
    assert b.state == "half_open"
    assert b.allow() and not b.allow()  # one trial at a time
    b.failure()  # trial failed: open again for another reset period
    assert b.state == "open"
    clock.t = 10.0
    assert b.allow()
    b.success()
    assert b.state == "closed" and b.allow() and b.opened_count == 1


def test_token_bucket_per_key():
    clock = Clock()
    lim = RateLimiter(per_second=2, burst=2, clock=clock)
    assert lim.acquire("a")[0] and lim.acquire("a")[0]
    ok, wait = lim.acquire("a")
    assert not ok and abs(wait - 0.5) < 1e-9
    assert lim.acquire("b")[0]
    clock.t = 0.5
    assert lim.acquire("a")[0] and not lim.acquire("a")[0]


def test_keyring():
    ring = KeyRing(["k1", "k2", ""])
    assert len(ring) == 2 and ring.check("k1") == "k1" and ring.check("k3") is None and ring.check(None) is None


def test_micro_batcher_returns_each_request_its_rows_and_never_mixes_versions():
    import threading

    import numpy as np

    from churnguard.serving.batcher import MicroBatcher

    class Bundle:
        def __init__(self, tag: float):
            self.tag, self.calls = tag, 0

        def predict_columns(self, cols, n):
            assert len(cols["x"]) == n
            self.calls += 1
            return {"churn_probability": cols["x"].astype(float) + self.tag}

    class Model:
        def __init__(self, tag):
            self.bundle = Bundle(tag)

    v1, v2 = Model(0.0), Model(1000.0)
    batcher = MicroBatcher(max_rows=64)
    out: dict = {}

    def ask(i: int) -> None:
        model = v1 if i % 2 else v2
        cols = {"x": np.array([i, i + 0.5])} if i % 3 else {"x": np.array([i, i + 0.5], dtype=object)}
        out[i] = (model.bundle.tag, batcher.predict(model, cols, 2)["churn_probability"].tolist())

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, (tag, probs) in out.items():
        assert probs == [i + tag, i + 0.5 + tag]
    assert v1.bundle.calls + v2.bundle.calls <= 40 and batcher.rows == 80


def test_failed_auth_throttle_is_per_client():
    from churnguard.serving.security import FailedAuthThrottle

    clock = Clock()
    t = FailedAuthThrottle(per_second=0.5, burst=2, clock=clock)
    assert t.blocked("a") is None
    t.failed("a")
    t.failed("a")
    assert t.blocked("a") == 2.0 and t.blocked("b") is None  # another client is not affected
    clock.t = 2.0
    assert t.blocked("a") is None


def test_body_is_read_only_up_to_the_limit():
    import asyncio

    from churnguard.serving.guard import read_limited

    pulled = []

    async def endless():
        pulled.append(1)
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}

    assert asyncio.run(read_limited(endless, 10_000, {})) is None
    assert len(pulled) == 11  # stopped at the first chunk past the limit
    assert asyncio.run(read_limited(endless, 10_000, {"content-length": "10001"})) is None and len(pulled) == 11

    async def small():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    assert asyncio.run(read_limited(small, 10_000, {"content-length": "2"})) == b"{}"


def test_accepted_ranges_keep_never_negative_features_non_negative():
    from churnguard.serving.validation import accepted_ranges

    r = accepted_ranges({"age": (18.0, 85.0), "delta": (-2.0, 2.0), "flag": (0.0, 0.0)}, margin=0.5)
    assert (
        r["age"] == (0.0, 118.5) and r["delta"] == (-4.0, 4.0) and r["flag"] == (0.0, 0.5)
    )  # constant in training: span 1
