"""Prometheus metrics of the feature job (prometheus_client), one registry per job so several
jobs (tests, benchmark) can live in one process. ``serve(port)`` exposes /metrics over HTTP."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server

from churnguard.core.instruments import Instruments


class JobMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        m = Instruments(self.registry)
        self.events = m.counter(
            "churnguard_stream_events",
            "Events consumed, by outcome (applied, duplicate, late, invalid, future, too_old)",
            ["outcome"],
        )
        self.dead_letters = m.counter(
            "churnguard_stream_dead_letters", "Events sent to the dead-letter topic, by reason", ["reason"]
        )
        self.produce_errors = m.counter(
            "churnguard_stream_produce_errors",
            "Kafka produces that raised or were not "
            "delivered, by topic (score, dead_letter); dead letters are retried "
            "minimal, then parked in Redis",
            ["topic"],
        )
        self.parked = m.counter(
            "churnguard_stream_dead_letters_parked",
            "Dead letters Kafka refused twice, kept in the job's Redis list (online_store.parked_key)",
        )
        self.redis_errors = m.counter("churnguard_stream_redis_errors", "Failed Redis writes (retried)")
        self.batches = m.counter("churnguard_stream_batches", "Micro-batches processed")
        self.scores = m.counter("churnguard_stream_scores", "Real-time churn scores written")
        self.lag = m.gauge(
            "churnguard_stream_consumer_lag", "High watermark minus next offset, per partition", ["topic", "partition"]
        )
        self.batch_seconds = m.histogram(
            "churnguard_stream_batch_processing_seconds",
            "Wall time of one micro-batch (decode, features, score, Redis, commit)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.phase_seconds = m.counter(
            "churnguard_stream_phase_seconds",
            "Wall time spent per micro-batch phase (features, score, publish, redis, commit)",
            ["phase"],
        )
        self.freshness = m.histogram(
            "churnguard_stream_event_to_score_seconds",
            "Producer timestamp to score in Redis, worst event of each micro-batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    def serve(self, port: int, host: str = "127.0.0.1"):
        """/metrics on host:port (127.0.0.1 by default; 0.0.0.0 lets a Prometheus container scrape it).
        Returns (server, thread); ``server.shutdown()`` stops it."""
        return start_http_server(port, addr=host, registry=self.registry)

    def value(self, name: str, **labels: str) -> float:
        v = self.registry.get_sample_value(name, labels or None)
        return float(v or 0.0)
