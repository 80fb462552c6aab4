"""Prometheus metrics of the serving process (one registry per app) and the request-timing middleware.

Names used by docker/grafana dashboards (keep them): churnguard_requests_total,
churnguard_request_seconds, churnguard_scored_rows_total, churnguard_degraded_total,
churnguard_model_version, churnguard_model_swaps_total, churnguard_model_load_seconds,
churnguard_redis_breaker_open. The full list is in docs/serving.md.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from typing import Any

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

GUARDED_ROUTES = frozenset({"/v1/predict", "/v1/explain", "/v1/interventions"})


PROBABILITY_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))
SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
ARM_LABELS = ["arm", "version", "traffic"]  # champion | challenger; model version; served | shadow


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)  # process_cpu_seconds_total, process_resident_memory_bytes, fds
        PlatformCollector(registry=r)  # python_info
        GCCollector(registry=r)  # python_gc_collections_total, python_gc_objects_collected_total
        self._requests(r)
        self._model(r)
        self._guard(r)
        self._arms(r)

    def _requests(self, r: CollectorRegistry) -> None:
        self.requests = Counter("churnguard_requests_total", "HTTP requests", ["route", "method", "status"], registry=r)
        self.latency = Histogram(
            "churnguard_request_seconds", "HTTP request latency", ["route"], registry=r, buckets=SECONDS_BUCKETS
        )
        self.rows = Counter("churnguard_scored_rows_total", "customers scored", ["endpoint"], registry=r)
        self.degraded = Counter("churnguard_degraded_total", "answers without online features", registry=r)
        self.breaker = Gauge(
            "churnguard_redis_breaker_open",
            "1 while the Redis circuit breaker is not closed (open or half-open)",
            registry=r,
        )
        self.score = Histogram(
            "churnguard_churn_probability",
            "churn_probability answered per customer",
            registry=r,
            buckets=PROBABILITY_BUCKETS,
        )
        self.verdicts = Counter(
            "churnguard_protection_verdicts_total", "protection part verdicts", ["verdict"], registry=r
        )
        self.attacks = Counter(
            "churnguard_attack_types_total", "attack types named by the protection part", ["attack_type"], registry=r
        )
        self.imputed = Counter(
            "churnguard_imputed_features_total",
            "feature values the model imputed (no batch, online or request value)",
            ["feature"],
            registry=r,
        )
        self.out_of_bounds = Counter(
            "churnguard_out_of_bounds_total", "request values outside the training range", ["feature"], registry=r
        )

    def _model(self, r: CollectorRegistry) -> None:
        self.version = Gauge("churnguard_model_version", "model version being served", registry=r)
        self.swaps = Counter("churnguard_model_swaps_total", "model versions swapped in", registry=r)
        self.load_seconds = Gauge("churnguard_model_load_seconds", "load time of the current version", registry=r)
        self.refused = Counter(
            "churnguard_model_refused_total", "load attempts refused by the artifact digest check", registry=r
        )
        self.load_failures = Counter(
            "churnguard_model_load_failures_total",
            "load attempts that failed (not counting digest refusals)",
            registry=r,
        )
        self.registered_at = Gauge(
            "churnguard_model_registered_timestamp_seconds", "when the served version was registered", registry=r
        )
        self.refused_version = Gauge(
            "churnguard_model_refused_version", "version the alias points at but refused (0: none)", registry=r
        )

    def _guard(self, r: CollectorRegistry) -> None:
        self.auth_failures = Counter(
            "churnguard_auth_failures_total", "requests with a missing or wrong API key", registry=r
        )
        self.auth_throttled = Counter(
            "churnguard_auth_throttled_total",
            "requests refused (429) after too many failed API-key attempts from the client",
            registry=r,
        )
        self.rejected = Counter(
            "churnguard_rejected_requests_total", "requests refused before scoring", ["reason"], registry=r
        )

    def _arms(self, r: CollectorRegistry) -> None:
        """Champion/challenger: every scored customer by arm, version and traffic (served or shadow)."""
        self.arm_rows = Counter("churnguard_arm_scored_rows_total", "customers scored per arm", ARM_LABELS, registry=r)
        self.arm_score = Histogram(
            "churnguard_arm_churn_probability",
            "churn_probability per arm",
            ARM_LABELS,
            registry=r,
            buckets=PROBABILITY_BUCKETS,
        )
        self.arm_seconds = Histogram(
            "churnguard_arm_score_seconds",
            "time to score one call per arm (served: the request's scoring; shadow: one batched call)",
            ARM_LABELS,
            registry=r,
            buckets=SECONDS_BUCKETS,
        )
        self.challenger_version = Gauge(
            "churnguard_challenger_version", "challenger version being compared (0: none)", registry=r
        )
        self.shadow_dropped = Counter(
            "churnguard_shadow_dropped_total", "customers not shadow-scored: the shadow queue was full", registry=r
        )
        self.shadow_errors = Counter(
            "churnguard_shadow_errors_total", "challenger load or scoring failures in the shadow process", registry=r
        )
        self.shadow_lag = Histogram(
            "churnguard_shadow_lag_seconds",
            "from the answer to the challenger's shadow score",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.shadow_difference = Histogram(
            "churnguard_shadow_score_difference",
            "challenger minus champion churn_probability of the same customer",
            registry=r,
            buckets=(-0.5, -0.2, -0.1, -0.05, -0.01, 0.01, 0.05, 0.1, 0.2, 0.5),
        )

    def observe_served(self, arm: str, version: str, probability: np.ndarray, seconds: float) -> None:
        self.arm_rows.labels(arm, version, "served").inc(len(probability))
        self.arm_seconds.labels(arm, version, "served").observe(seconds)
        histogram = self.arm_score.labels(arm, version, "served")
        for p in probability.tolist():
            if p == p:
                histogram.observe(p)

    def observe_shadow(self, report: dict[str, Any]) -> None:
        """One batched shadow call of the challenger (a report of the shadow process)."""
        version, challenger, champion = report["version"], report["challenger"], report["champion"]
        self.arm_rows.labels("challenger", version, "shadow").inc(len(challenger))
        self.arm_seconds.labels("challenger", version, "shadow").observe(report["seconds"])
        histogram = self.arm_score.labels("challenger", version, "shadow")
        for p, q in zip(challenger, champion):
            if p == p:
                histogram.observe(p)
                if q == q:
                    self.shadow_difference.observe(p - q)
        for lag in report["lag_s"]:
            self.shadow_lag.observe(lag)

    def observe_scores(self, scores: dict[str, np.ndarray]) -> None:
        """Score histogram and protection counters for one scored request."""
        for p in scores.get("churn_probability", ()):
            if p == p:  # NaN is not a score
                self.score.observe(float(p))
        for column, counter, label in (
            ("protection_verdict", self.verdicts, "verdict"),
            ("attack_type", self.attacks, "attack_type"),
        ):
            values = scores.get(column)
            if values is None:
                continue
            for value, n in Tally(v for v in values.tolist() if isinstance(v, str) and v).items():
                counter.labels(**{label: value[:40]}).inc(n)

    def count_features(self, meta: list[dict[str, Any]]) -> None:
        for row in meta:
            for name in row["imputed_features"]:
                self.imputed.labels(name).inc()
            for name in row["out_of_bounds"]:
                self.out_of_bounds.labels(name).inc()


class ObserveMiddleware:
    """Count and time every HTTP request by route template (plain ASGI: no per-request task)."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = [500]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None)
            if route is None:  # answered by the guard before routing: label known routes only (bounded)
                route = scope["path"] if scope["path"] in GUARDED_ROUTES else "unmatched"
            self.metrics.requests.labels(route, scope["method"], str(status[0])).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - t0)
