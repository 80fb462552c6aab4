"""`churnguard replay`: publish the world's click events to the events topic at a chosen rate."""
from __future__ import annotations

import argparse

from components.config import PATHS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=0.0, help="events per second (0: as fast as possible)")
    parser.add_argument("--day", default=None, help="only this day (YYYY-MM-DD, UTC)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many events")
    parser.add_argument("--events", default=None, help="events parquet (default: data/raw/events.parquet)")
    parser.add_argument("--bootstrap", default=None, help="default: streaming.bootstrap_servers / env")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from components.streaming.config import StreamingConfig
    from components.streaming.replayer import encode_events, load_events, publish

    cfg = StreamingConfig.from_params(bootstrap_servers=args.bootstrap)
    ev = load_events(Path(args.events) if args.events else PATHS.raw / "events.parquet", args.day, args.limit)
    out = publish(cfg, encode_events(ev), args.rate)
    print(f"published {out['events']} events to {cfg.events_topic} on {cfg.bootstrap_servers} "
          f"in {out['seconds']:.1f} s ({out['rate']:.0f} events/s)")
    return 0
