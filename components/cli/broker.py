"""`churnguard broker start|stop|status`: the local Kafka-compatible broker (Tansu) for development.

`start` runs it detached in its own process group on loopback and records pid and port in
`.run/streaming/broker.json`; `stop` stops that process group. Production uses a real Kafka cluster.
"""

from __future__ import annotations

import argparse

from churnguard.core.config import ROOT

STATE = ROOT / ".run" / "streaming" / "broker.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=["start", "stop", "status"],
        help="start the local Kafka-protocol broker, stop it, or show whether it runs",
    )
    parser.add_argument("--port", type=int, default=None, help="default: a free port")
    parser.add_argument("--no-topics", action="store_true", help="do not create the streaming topics")


def run(args: argparse.Namespace) -> int:
    from churnguard.streaming.broker import LocalBroker, create_topics
    from churnguard.streaming.config import StreamingConfig

    current = LocalBroker.load(STATE) if STATE.exists() else None
    if args.action == "status":
        if current is not None and current.alive():
            print(f"broker running on {current.bootstrap} (pid {current.pid})")
            return 0
        print("broker not running")
        return 1
    if args.action == "stop":
        if current is None:
            print("no broker started by `churnguard broker start`")
            return 0
        current.stop()
        STATE.unlink()
        print(f"stopped broker process group {current.pid}")
        return 0
    if current is not None and current.alive():
        print(f"already running on {current.bootstrap} (pid {current.pid})")
        return 0
    STATE.parent.mkdir(parents=True, exist_ok=True)
    broker = LocalBroker.start(args.port, log_path=STATE.parent / "broker.log")
    broker.save(STATE)
    if not args.no_topics:
        cfg = StreamingConfig.from_params()
        create_topics(
            broker.bootstrap,
            {cfg.events_topic: cfg.partitions, cfg.scores_topic: cfg.partitions, cfg.dead_letter_topic: 1},
        )
    print(
        f"broker running on {broker.bootstrap} (pid {broker.pid}); "
        f"export CHURNGUARD_KAFKA_BOOTSTRAP={broker.bootstrap}; stop: churnguard broker stop"
    )
    return 0
