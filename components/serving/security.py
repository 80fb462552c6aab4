"""API keys and the per-key rate limit (token bucket).

Keys come from ``serving.auth.api_keys`` and the ``CHURNGUARD_API_KEYS`` environment variable
(comma-separated). A client sends ``X-API-Key: <key>`` (or ``Authorization: Bearer <key>``).
Every route but ``/health`` and ``/metrics`` requires one: missing or unknown -> 401.
Each key has its own bucket of ``burst`` tokens refilled at ``per_second``; an empty bucket
answers 429 with ``Retry-After``. The limit is per serving process (document: with N worker
processes a key gets N times the rate).
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
    """Token bucket per key."""

    def __init__(self, per_second: float, burst: int, clock=time.monotonic):
        self.rate = float(per_second)
        self.burst = max(1, int(burst))
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> tuple[bool, float]:
        """(allowed, seconds until the next token)."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return True, 0.0
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.rate if self.rate > 0 else 60.0
            return False, wait
