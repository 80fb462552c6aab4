"""`churnguard stream`: the streaming feature job (consumer group: run more of them to scale out)."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", default=None, help="default: streaming.bootstrap_servers / env")
    parser.add_argument("--group", default=None, help="consumer group (default: streaming.group_id)")
    parser.add_argument("--client", choices=["confluent", "kafka-python"], default=None)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--prefix", default=None, help="Redis key prefix (default: streaming.key_prefix)")
    parser.add_argument("--model-uri", default=None, help="default: streaming.model_uri (the champion)")
    parser.add_argument("--no-score", action="store_true", help="features only, no real-time churn score")
    parser.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus /metrics on 127.0.0.1:PORT")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--until-caught-up", action="store_true", help="exit once every assigned partition is consumed")
    parser.add_argument("--max-events", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=None, help="exit after this many seconds")
    parser.add_argument("--pause-ms", type=float, default=0.0, help="sleep after each micro-batch (tests, demos)")


def run(args: argparse.Namespace) -> int:
    from components.streaming.config import StreamingConfig
    from components.streaming.job import FeatureJob

    cfg = StreamingConfig.from_params(bootstrap_servers=args.bootstrap, client=args.client, redis_url=args.redis_url,
                                      key_prefix=args.prefix, model_uri=args.model_uri, batch_size=args.batch_size,
                                      metrics_port=args.metrics_port, score=False if args.no_score else None)
    scorer = None
    if cfg.score:
        from components.streaming.scoring import RealtimeScorer

        scorer = RealtimeScorer(cfg.model_uri, cfg.batch_features)
    job = FeatureJob(cfg, scorer=scorer, group_id=args.group, pause_ms=args.pause_ms)
    if cfg.metrics_port:
        job.metrics.serve(cfg.metrics_port)
    n = job.run(max_events=args.max_events, until_caught_up=args.until_caught_up, timeout_s=args.timeout)
    m = job.metrics
    print(f"consumed {n} events: applied {m.value('churnguard_stream_events_total', outcome='applied'):.0f}, "
          f"duplicates {m.value('churnguard_stream_events_total', outcome='duplicate'):.0f}, "
          f"dead letters {m.value('churnguard_stream_events_total', outcome='invalid') + m.value('churnguard_stream_events_total', outcome='late'):.0f}, "
          f"scores {m.value('churnguard_stream_scores_total'):.0f}", flush=True)
    return 0
