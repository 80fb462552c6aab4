"""Replay the synthetic world's click events (``data/raw/events.parquet``) into Kafka.

Events are published in event-time order (``ts``, then ``event_id``), keyed by ``user_id`` so a
user's events stay ordered in one partition, at a chosen rate (events/s; 0 = as fast as possible).
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from churnguard.streaming.clients import make_producer
from churnguard.streaming.config import StreamingConfig
from churnguard.streaming.schema import encode

DAY_MS = 86_400_000


def load_events(path: Path, day: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """Events sorted by event time; ``day`` (YYYY-MM-DD, UTC) keeps that day only."""
    ev = pd.read_parquet(path)
    if day:
        lo = int(pd.Timestamp(day).value // 1_000_000)
        ev = ev[(ev["ts"] >= lo) & (ev["ts"] < lo + DAY_MS)]
    ev = ev.sort_values(["ts", "event_id"], kind="stable").reset_index(drop=True)
    return ev.head(limit) if limit else ev


def shift_to_now(ev: pd.DataFrame) -> pd.DataFrame:
    """The same events moved in time so the first one is now (every gap, so every feature, kept)."""
    if ev.empty:
        return ev
    return ev.assign(ts=ev["ts"] - int(ev["ts"].min()) + int(time.time() * 1000))


def encode_events(ev: pd.DataFrame) -> list[tuple[str, bytes]]:
    cols = [ev[c].tolist() for c in ("event_id", "user_id", "session_id", "event_type", "ts", "page", "cart_value")]
    return [(u, encode(i, u, s, t, ts, p, c)) for i, u, s, t, ts, p, c in zip(*cols)]


def publish(
    cfg: StreamingConfig,
    messages: list[tuple[str, bytes]],
    rate: float = 0.0,
    topic: str | None = None,
    trace: bool = False,
) -> dict[str, float]:
    """Publish (key, value) messages at ``rate`` events/s (0: unthrottled); returns timing.

    ``trace``: one span ``churnguard.replay`` for the run and a PRODUCER span per message whose W3C
    context travels in the message's headers (the feature job continues the trace)."""
    if trace:
        from churnguard.streaming.tracing import traced_run

        with traced_run("churnguard.replay", topic=topic or cfg.events_topic, messages=len(messages)):
            return _publish(cfg, messages, rate, topic or cfg.events_topic, trace)
    return _publish(cfg, messages, rate, topic or cfg.events_topic, trace)


def _publish(
    cfg: StreamingConfig, messages: list[tuple[str, bytes]], rate: float, topic: str, trace: bool
) -> dict[str, float]:
    producer = make_producer(cfg)
    if trace:
        from churnguard.streaming.tracing import produce_span
    t0 = time.perf_counter()
    step = 500 if rate <= 0 else max(1, int(rate / 200))  # pace in slices of ~5 ms
    for i in range(0, len(messages), step):
        for key, value in messages[i : i + step]:
            if trace:
                with produce_span(**{"messaging.destination.name": topic}) as headers:
                    producer.produce(topic, value, key, headers=headers)
            else:
                producer.produce(topic, value, key)
        producer.poll()
        if rate > 0:
            ahead = (i + step) / rate - (time.perf_counter() - t0)
            if ahead > 0:
                time.sleep(ahead)
    left = producer.flush(60.0)
    seconds = time.perf_counter() - t0
    if left:
        raise RuntimeError(f"{left} events not delivered")
    return {"events": len(messages), "seconds": seconds, "rate": len(messages) / seconds if seconds else 0.0}
