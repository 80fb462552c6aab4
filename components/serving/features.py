"""Where a request's features come from, and how they are merged.

For each customer, three layers are merged; a later layer wins field by field:

1. **batch** features: the row of ``data/features/customers.parquet`` of the workspace
   (``serving.batch_features``), loaded once at start-up and indexed by ``customer_id``
   (labels and the split column are dropped; the ground truth is never read);
2. **online** features: the customer's Redis hash ``cg:user:{id}`` written by the streaming
   job (:mod:`churnguard.core.online_store`), only fields the model knows;
3. **request** features: fields the caller sent explicitly.

Redis is called behind a :class:`CircuitBreaker` with a short socket timeout: when Redis is
down or slow the request is answered from layers 1 and 3 and flagged ``degraded``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnguard.core.online_store import DEFAULT_PREFIX, user_key

ID = "customer_id"
DROP = {"churned", "churn_label", "split", "signup_date"}
EXTRA_FEATURES = ("is_cold_start",)  # not a model column, read by the cold-start part


def _clean(v: Any) -> Any:
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


class BatchFeatures:
    """The batch feature table, loaded once, looked up by customer id in O(1)."""

    def __init__(self, path: Path | None):
        self.path = path
        self.columns: list[str] = []
        self._pos: dict[str, int] = {}
        self._rows: np.ndarray = np.empty((0, 0), dtype=object)
        self.error: str | None = None
        if path is None:
            return
        try:
            table = pd.read_parquet(path)
        except Exception as exc:  # a serving job without batch features still answers request features
            self.error = f"{path}: {exc}"
            return
        table = table.drop(columns=[c for c in DROP if c in table.columns])
        self.columns = [c for c in table.columns if c != ID]
        self._pos = {cid: i for i, cid in enumerate(table[ID].astype(str))}
        self._rows = table[self.columns].astype(object).to_numpy()

    @cached_property
    def names(self) -> frozenset[str]:
        """Fields a request may send besides the model's: the batch columns and EXTRA_FEATURES."""
        return frozenset(self.columns) | frozenset(EXTRA_FEATURES)

    def __len__(self) -> int:
        return len(self._pos)

    def get(self, customer_id: str) -> dict[str, Any] | None:
        i = self._pos.get(customer_id)
        if i is None:
            return None
        return {c: _clean(v) for c, v in zip(self.columns, self._rows[i])}


class CircuitBreaker:
    """closed -> (``failures`` consecutive errors) -> open -> (``reset_after_s``) -> half-open.

    While open, calls are not attempted at all (no timeout paid); half-open lets one trial
    call through: success closes the breaker, failure opens it again.
    """

    def __init__(self, failures: int, reset_after_s: float, clock=time.monotonic):
        self.threshold = max(1, int(failures))
        self.reset_after_s = float(reset_after_s)
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False
        self._lock = threading.Lock()
        self.opened_count = 0

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_after_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        with self._lock:
            s = self._state()
            if s == "closed":
                return True
            if s == "half_open" and not self._trial:
                self._trial = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._trial = 0, None, False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial = False
            if self._opened_at is not None or self._failures >= self.threshold:
                if self._opened_at is None:
                    self.opened_count += 1
                self._opened_at = self._clock()  # (re)open: a failed half-open trial waits again


class OnlineFeatures:
    """Reads online feature hashes from Redis behind a circuit breaker."""

    def __init__(
        self,
        url: str | None,
        prefix: str = DEFAULT_PREFIX,
        timeout_ms: float = 25,
        failures: int = 3,
        reset_after_s: float = 5.0,
    ):
        self.url = url
        self.prefix = prefix
        self.breaker = CircuitBreaker(failures, reset_after_s)
        self.last_error: str | None = None
        self.errors = 0
        self._client: Any = None  # redis.Redis when a url is configured
        if url:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            t = timeout_ms / 1000.0
            self._client = redis.Redis.from_url(
                url,
                socket_timeout=t,
                socket_connect_timeout=t,
                retry=Retry(NoBackoff(), 0),
                retry_on_timeout=False,
                health_check_interval=0,
            )

    @property
    def enabled(self) -> bool:
        return self._client is not None

    def status(self) -> str:
        if not self.enabled:
            return "disabled"
        return {"closed": "up", "half_open": "degraded", "open": "down"}[self.breaker.state]

    def fetch(self, ids: Iterable[str]) -> tuple[list[dict[str, Any]], bool]:
        """Online fields per id and whether the answer is degraded (Redis skipped or failed)."""
        ids = list(ids)
        if not self.enabled:
            return [{} for _ in ids], False
        if not self.breaker.allow():
            return [{} for _ in ids], True
        try:
            if len(ids) == 1:
                raws = [self._client.hgetall(user_key(ids[0], self.prefix))]
            else:
                pipe = self._client.pipeline(transaction=False)
                for i in ids:
                    pipe.hgetall(user_key(i, self.prefix))
                raws = pipe.execute()
        except Exception as exc:  # ConnectionError, TimeoutError, protocol errors: all mean "not now"
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            self.breaker.failure()
            return [{} for _ in ids], True
        self.breaker.success()
        self.last_error = None  # Redis answers again: /health must not keep reporting the old error
        return [_parse_hash(r) for r in raws], False

    def probe(self) -> str:
        """Status for /health; when the breaker allows a trial, ping Redis so health recovers without traffic."""
        if self.enabled and self.breaker.state == "half_open" and self.breaker.allow():
            if self.ping():
                self.breaker.success()
                self.last_error = None
            else:
                self.breaker.failure()
        return self.status()

    def ping(self) -> bool:
        if not self.enabled:
            return False
        try:
            return bool(self._client.ping())
        except Exception as exc:  # any failure means "not now"
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            return False


def _parse_hash(raw: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in raw.items():
        key = k.decode() if isinstance(k, bytes) else k
        text = v.decode() if isinstance(v, bytes) else v
        try:
            out[key] = float(text)
        except (TypeError, ValueError):
            out[key] = text
    return out
