"""`churnguard replay`: publish the world's click events to the events topic at a chosen rate."""

from __future__ import annotations

import argparse

from churnguard.core.config import PATHS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=0.0, help="events per second (0: as fast as possible)")
    parser.add_argument("--day", default=None, help="only this day (YYYY-MM-DD, UTC)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many events")
    parser.add_argument("--events", default=None, help="events parquet (default: data/raw/events.parquet)")
    parser.add_argument("--bootstrap", default=None, help="default: streaming.bootstrap_servers / env")
    parser.add_argument(
        "--shift-to-now",
        action="store_true",
        help="move event times so the first event is now (every gap kept): the job refuses "
        "events older than streaming.max_event_age_s",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from churnguard.core import telemetry
    from churnguard.streaming.config import StreamingConfig
    from churnguard.streaming.replayer import encode_events, load_events, publish, shift_to_now

    tracing = telemetry.init_tracing("churnguard-replay")  # exports only when OTEL_* asks for it
    cfg = StreamingConfig.from_params(bootstrap_servers=args.bootstrap)
    ev = load_events(Path(args.events) if args.events else PATHS.raw / "events.parquet", args.day, args.limit)
    if args.shift_to_now:
        ev = shift_to_now(ev)
    try:
        out = publish(cfg, encode_events(ev), args.rate, trace=tracing)
    finally:
        telemetry.shutdown_tracing()
    print(
        f"published {out['events']} events to {cfg.events_topic} on {cfg.bootstrap_servers} "
        f"in {out['seconds']:.1f} s ({out['rate']:.0f} events/s)"
    )
    return 0
