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
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from churnguard.core.instruments import Instruments

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
        m = Instruments(r)
        self._requests(m)
        self._model(m)
        self._guard(m)
        self._arms(m)

    def _requests(self, m: Instruments) -> None:
        self.requests = m.counter("churnguard_requests_total", "HTTP requests", ["route", "method", "status"])
        self.latency = m.histogram(
            "churnguard_request_seconds", "HTTP request latency", ["route"], buckets=SECONDS_BUCKETS
        )
        self.rows = m.counter("churnguard_scored_rows_total", "customers scored", ["endpoint"])
        self.degraded = m.counter("churnguard_degraded_total", "answers without online features")
        self.breaker = m.gauge(
            "churnguard_redis_breaker_open", "1 while the Redis circuit breaker is not closed (open or half-open)"
        )
        self.score = m.histogram(
            "churnguard_churn_probability", "churn_probability answered per customer", buckets=PROBABILITY_BUCKETS
        )
        self.verdicts = m.counter("churnguard_protection_verdicts_total", "protection part verdicts", ["verdict"])
        self.attacks = m.counter(
            "churnguard_attack_types_total", "attack types named by the protection part", ["attack_type"]
        )
        self.imputed = m.counter(
            "churnguard_imputed_features_total",
            "feature values the model imputed (no batch, online or request value)",
            ["feature"],
        )
        self.out_of_bounds = m.counter(
            "churnguard_out_of_bounds_total", "request values outside the training range", ["feature"]
        )

    def _model(self, m: Instruments) -> None:
        self.version = m.gauge("churnguard_model_version", "model version being served")
        self.swaps = m.counter("churnguard_model_swaps_total", "model versions swapped in")
        self.load_seconds = m.gauge("churnguard_model_load_seconds", "load time of the current version")
        self.refused = m.counter("churnguard_model_refused_total", "load attempts refused by the artifact digest check")
        self.load_failures = m.counter(
            "churnguard_model_load_failures_total", "load attempts that failed (not counting digest refusals)"
        )
        self.registered_at = m.gauge(
            "churnguard_model_registered_timestamp_seconds", "when the served version was registered"
        )
        self.refused_version = m.gauge(
            "churnguard_model_refused_version", "version the alias points at but refused (0: none)"
        )

    def _guard(self, m: Instruments) -> None:
        self.auth_failures = m.counter("churnguard_auth_failures_total", "requests with a missing or wrong API key")
        self.auth_throttled = m.counter(
            "churnguard_auth_throttled_total",
            "requests refused (429) after too many failed API-key attempts from the client",
        )
        self.rejected = m.counter("churnguard_rejected_requests_total", "requests refused before scoring", ["reason"])

    def _arms(self, m: Instruments) -> None:
        """Champion/challenger: every scored customer by arm, version and traffic (served or shadow)."""
        self.arm_rows = m.counter("churnguard_arm_scored_rows_total", "customers scored per arm", ARM_LABELS)
        self.arm_score = m.histogram(
            "churnguard_arm_churn_probability", "churn_probability per arm", ARM_LABELS, buckets=PROBABILITY_BUCKETS
        )
        self.arm_seconds = m.histogram(
            "churnguard_arm_score_seconds",
            "time to score one call per arm (served: the request's scoring; shadow: one batched call)",
            ARM_LABELS,
            buckets=SECONDS_BUCKETS,
        )
        self.challenger_version = m.gauge(
            "churnguard_challenger_version", "challenger version being compared (0: none)"
        )
        self.shadow_dropped = m.counter(
            "churnguard_shadow_dropped_total", "customers not shadow-scored: the shadow queue was full"
        )
        self.shadow_errors = m.counter(
            "churnguard_shadow_errors_total", "challenger load or scoring failures in the shadow process"
        )
        self.shadow_lag = m.histogram(
            "churnguard_shadow_lag_seconds",
            "from the answer to the challenger's shadow score",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.shadow_difference = m.histogram(
            "churnguard_shadow_score_difference",
            "challenger minus champion churn_probability of the same customer",
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
