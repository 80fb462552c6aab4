"""API keys and the per-key rate limit (token bucket).

Keys come from ``serving.auth.api_keys`` and the ``CHURNGUARD_API_KEYS`` environment variable
(comma-separated). A client sends ``X-API-Key: <key>`` (or ``Authorization: Bearer <key>``).
Every route but ``/health`` and ``/metrics`` requires one: missing or unknown -> 401.
Each key has its own bucket of ``burst`` tokens refilled at ``per_second``; an empty bucket
answers 429 with ``Retry-After``. The limit is per serving process (document: with N worker
processes a key gets N times the rate).

Failed attempts are throttled per client address (:class:`FailedAuthThrottle`): each missing
or wrong key takes a token from the client's bucket; while it is empty *every* request of that
client answers 429 (a right key too, so guessing cannot go on at full speed and a 200 cannot
tell a guess succeeded while throttled).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time


class KeyRing:
    def __init__(self, keys: tuple[str, ...] | list[str]):
        self._digests = {hashlib.sha256(k.encode()).digest(): k for k in keys if k}

    def __len__(self) -> int:
        return len(self._digests)

    def check(self, presented: str | None) -> str | None:
        """The key when valid (constant-time compare of digests), else None."""
        if not presented:
            return None
        d = hashlib.sha256(presented.encode()).digest()
        for known, key in self._digests.items():
            if hmac.compare_digest(known, d):
                return key
        return None


class RateLimiter:
    """Token bucket per key (at most ``max_keys`` buckets: full ones are forgotten first)."""

    def __init__(self, per_second: float, burst: int, clock=time.monotonic, max_keys: int = 100_000):
        self.rate = float(per_second)
        self.burst = max(1, int(burst))
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self.max_keys = max_keys

    def available(self, key: str) -> tuple[bool, float]:
        """(a token is available, seconds until the next one) without taking it."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            return True, 0.0
        return False, (1.0 - tokens) / self.rate if self.rate > 0 else 60.0

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (they equal a new one): bounds memory under many clients."""
        full_after = self.burst / self.rate if self.rate > 0 else float("inf")
        for key in [k for k, (_, last) in self._buckets.items() if now - last >= full_after]:
            del self._buckets[key]

    def acquire(self, key: str) -> tuple[bool, float]:
        """(allowed, seconds until the next token)."""
        now = self._clock()
        with self._lock:
            if len(self._buckets) >= self.max_keys:
                self._forget_full(now)
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return True, 0.0
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.rate if self.rate > 0 else 60.0
            return False, wait


class FailedAuthThrottle:
    """Failed API-key attempts per client address: ``burst`` of them, then ``per_second``."""

    def __init__(self, per_second: float, burst: int, clock=time.monotonic):
        self._bucket = RateLimiter(per_second, burst, clock)

    def blocked(self, client: str) -> float | None:
        """Seconds to wait while the client is throttled, else None."""
        ok, wait = self._bucket.available(client)
        return None if ok else wait

    def failed(self, client: str) -> None:
        self._bucket.acquire(client)


def presented_key(headers: dict[str, str]) -> str | None:
    """The key from ``X-API-Key`` or ``Authorization: Bearer`` (lower-case header names)."""
    key = headers.get("x-api-key")
    if key is None:
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            key = auth[7:].strip()
    return key
