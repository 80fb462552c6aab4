"""`churnguard stream`: the streaming feature job (consumer group: run more of them to scale out).

SIGTERM or SIGINT stops it gracefully: the micro-batch in hand is written to Redis, the offsets
are committed (Kafka's copy waited for), the consumer leaves its group, the summary is printed and
the exit status is 0. A second signal exits at once (status 128 + signal); nothing is lost either
way, since each micro-batch's Redis write and its offsets are one transaction (docs/streaming.md).
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from churnguard.streaming.metrics import JobMetrics


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", default=None, help="default: streaming.bootstrap_servers / env")
    parser.add_argument("--group", default=None, help="consumer group (default: streaming.group_id)")
    parser.add_argument(
        "--client",
        choices=["confluent", "kafka-python"],
        default=None,
        help="Kafka client library (default: params streaming.client)",
    )
    parser.add_argument(
        "--redis-url", default=None, help="online store, e.g. redis://127.0.0.1:6379/0 (default: params)"
    )
    parser.add_argument("--prefix", default=None, help="Redis key prefix (default: streaming.key_prefix)")
    parser.add_argument("--model-uri", default=None, help="default: streaming.model_uri (the champion)")
    parser.add_argument("--no-score", action="store_true", help="features only, no real-time churn score")
    parser.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus /metrics on HOST:PORT")
    parser.add_argument(
        "--metrics-host",
        default=None,
        help="address /metrics binds to (default: streaming.metrics_host, 127.0.0.1; 0.0.0.0 in compose)",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="events per micro-batch (default: params)")
    parser.add_argument("--until-caught-up", action="store_true", help="exit once every assigned partition is consumed")
    parser.add_argument("--max-events", type=int, default=None, help="stop after this many events (tests, replays)")
    parser.add_argument("--timeout", type=float, default=None, help="exit after this many seconds")
    parser.add_argument("--pause-ms", type=float, default=0.0, help="sleep after each micro-batch (tests, demos)")


class StopOnSignal:
    """A stop event set by SIGTERM/SIGINT (the handler only records: no I/O inside a signal handler)."""

    def __init__(self, signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)):
        self.event = threading.Event()
        self.received: str | None = None
        for sig in signals:
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        if self.event.is_set():
            raise SystemExit(128 + signum)
        self.received = signal.Signals(signum).name
        self.event.set()


def run(args: argparse.Namespace) -> int:
    from churnguard.core import telemetry
    from churnguard.streaming.config import StreamingConfig
    from churnguard.streaming.job import FeatureJob

    stop = StopOnSignal()  # before the model loads: a stop during start-up consumes nothing
    tracing = telemetry.init_tracing("churnguard-stream")  # exports only when OTEL_* asks for it
    cfg = StreamingConfig.from_params(
        bootstrap_servers=args.bootstrap,
        client=args.client,
        redis_url=args.redis_url,
        key_prefix=args.prefix,
        model_uri=args.model_uri,
        batch_size=args.batch_size,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        score=False if args.no_score else None,
    )
    scorer = None
    if cfg.score:
        from churnguard.streaming.scoring import RealtimeScorer

        scorer = RealtimeScorer(cfg.model_uri, cfg.batch_features)
    job = FeatureJob(cfg, scorer=scorer, group_id=args.group, pause_ms=args.pause_ms, tracing=tracing)
    if cfg.metrics_port:
        job.metrics.serve(cfg.metrics_port, cfg.metrics_host)
    try:
        n = job.run(
            max_events=args.max_events, until_caught_up=args.until_caught_up, timeout_s=args.timeout, stop=stop.event
        )
    finally:
        telemetry.shutdown_tracing()
    if stop.received:
        print(f"{stop.received}: stopped after the micro-batch in hand, left the group", flush=True)
    print(summary(job.metrics, n), flush=True)
    return 0


def summary(m: JobMetrics, n: int) -> str:
    from churnguard.streaming.job import DEAD_LETTER_KINDS

    dead = sum(m.value("churnguard_stream_events_total", outcome=k) for k in DEAD_LETTER_KINDS)
    return (
        f"consumed {n} events: applied {m.value('churnguard_stream_events_total', outcome='applied'):.0f}, "
        f"duplicates {m.value('churnguard_stream_events_total', outcome='duplicate'):.0f}, "
        f"dead letters {dead:.0f} (parked {m.value('churnguard_stream_dead_letters_parked_total'):.0f}), "
        f"scores {m.value('churnguard_stream_scores_total'):.0f}"
    )
