"""Streaming fixtures: one real Tansu broker per session (loopback, own process group), real
Redis db 1 with a unique key prefix per test (deleted afterwards), unique topics per test."""

from __future__ import annotations

import uuid

import pytest

from churnguard.core.online_store import job_space
from churnguard.streaming.broker import LocalBroker, create_topics
from churnguard.streaming.config import StreamingConfig

REDIS_URL = "redis://127.0.0.1:6379/1"


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    b = LocalBroker.start(log_path=tmp_path_factory.mktemp("tansu") / "tansu.log")
    yield b
    b.stop()


@pytest.fixture(scope="session")
def redis_db1():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    return client


def delete_prefix(client, prefix: str) -> None:
    """Every user key and job key (offsets, parked dead letters) under a test prefix."""
    keys = list(client.scan_iter(f"{prefix}*", count=1000)) + list(
        client.scan_iter(f"{job_space(prefix)}*", count=1000)
    )
    for i in range(0, len(keys), 500):
        client.delete(*keys[i : i + 500])


def make_config(bootstrap: str, tag: str | None = None, partitions: int = 2, **over) -> StreamingConfig:
    """A config with unique topics, group and Redis prefix; the topics are created. The age guard
    is off unless asked for: most tests replay fixed 2026-06 event times."""
    tag = tag or uuid.uuid4().hex[:10]
    over.setdefault("max_event_age_s", 0)
    cfg = StreamingConfig.from_params(
        {},
        bootstrap_servers=bootstrap,
        redis_url=REDIS_URL,
        events_topic=f"events-{tag}",
        scores_topic=f"scores-{tag}",
        dead_letter_topic=f"dlq-{tag}",
        group_id=f"g-{tag}",
        key_prefix=f"cgtest:{tag}:",
        session_timeout_ms=2000,
        partitions=partitions,
        score=False,
        **over,
    )
    create_topics(bootstrap, {cfg.events_topic: partitions, cfg.scores_topic: 1, cfg.dead_letter_topic: 1})
    return cfg


@pytest.fixture
def stream_cfg(broker, redis_db1):
    made = []

    def factory(**over) -> StreamingConfig:
        cfg = make_config(broker.bootstrap, **over)
        made.append(cfg)
        return cfg

    yield factory
    for cfg in made:
        delete_prefix(redis_db1, cfg.key_prefix)


def read_topic(bootstrap: str, topic: str, expected: int | None = None, timeout_s: float = 15.0) -> list:
    """Every message of a topic's partitions, from the beginning, with assign() (no group)."""
    import time

    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        }
    )
    meta = c.list_topics(topic, timeout=10).topics[topic]
    c.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
    out, deadline = [], time.monotonic() + timeout_s
    highs = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1] for p in meta.partitions}
    want = sum(highs.values()) if expected is None else expected
    while len(out) < want and time.monotonic() < deadline:
        for m in c.consume(1000, 0.2):
            if m.error() is None:
                out.append(m)
    c.close()
    return out


STAGES = ["ingest", "validate", "features", "train_base", "evaluate", "register"]


@pytest.fixture(scope="session")
def stream_workspace(tmp_path_factory):
    """A private small world with a registered champion: only the stages real-time scoring needs
    (events, batch features, base model, MLflow registration), so this module stays fast."""
    from tests.workspace import Workspace

    ws = Workspace.create(
        tmp_path_factory.mktemp("stream_ws"),
        {
            "world": {"customers": 2000, "events": {"chunk_customers": 1000}},
            "train_base": {"candidates": ["hist_gradient_boosting"], "cv_folds": 2},
        },
    )
    for stage in STAGES:
        ws.run_stage(stage)
    return ws
