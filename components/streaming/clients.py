"""One small adapter over two Kafka clients, chosen by ``streaming.client``:
``confluent`` (confluent-kafka / librdkafka, the default: ~3x faster here, docs/stack.md) or
``kafka-python`` (pure Python, what the original design named).

Only what the job, the replayer and the tests need: produce, subscribe with an assignment
hook (the job seeks to offsets held in Redis), batch consume, synchronous commit of explicit
offsets, watermarks (for lag), close.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from churnguard.streaming.config import StreamingConfig

AssignHook = Callable[[list[tuple[str, int]]], dict[tuple[str, int], int]]


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int  # producer create time
    headers: list[tuple[str, bytes]] | None = None  # e.g. W3C trace context (traceparent)


# --- producers ----------------------------------------------------------------------------------
class Producer(Protocol):
    """``produce`` may raise (message too large, queue full); ``on_delivery(err, msg)`` is called
    once the broker acknowledged (``err`` None) or the delivery failed."""

    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | str | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        on_delivery: Callable | None = None,
    ) -> None: ...
    def poll(self) -> None: ...
    def flush(self, timeout_s: float = 30.0) -> int: ...


class ConfluentProducer(Producer):
    def __init__(self, cfg: StreamingConfig, **conf: Any):
        from confluent_kafka import Producer as P

        self._p = P(
            {
                "bootstrap.servers": cfg.bootstrap_servers,
                "linger.ms": 5,
                "batch.num.messages": 10000,
                "queue.buffering.max.messages": 1_000_000,
                "compression.type": "none",
                **cfg.extra,
                **conf,
            }
        )

    def produce(self, topic, value, key=None, headers=None, on_delivery=None):
        try:
            self._p.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
        except BufferError:
            self._p.poll(0.05)
            self._p.produce(topic, value, key, headers=headers, on_delivery=on_delivery)

    def poll(self):
        self._p.poll(0)

    def flush(self, timeout_s=30.0):
        return self._p.flush(timeout_s)


class KafkaPythonProducer(Producer):
    def __init__(self, cfg: StreamingConfig, **conf: Any):
        from kafka import KafkaProducer

        self._p = KafkaProducer(bootstrap_servers=cfg.bootstrap_servers, linger_ms=5, batch_size=256 * 1024, **conf)

    def produce(self, topic, value, key=None, headers=None, on_delivery=None):
        future = self._p.send(topic, value=value, key=key.encode() if isinstance(key, str) else key, headers=headers)
        if on_delivery is not None:
            future.add_callback(lambda _meta: on_delivery(None, None))
            future.add_errback(lambda exc: on_delivery(exc, None))

    def poll(self):
        pass

    def flush(self, timeout_s=30.0):
        self._p.flush(timeout=timeout_s)
        return 0


# --- consumers ----------------------------------------------------------------------------------
class Consumer(Protocol):
    def subscribe(
        self,
        topics: list[str],
        on_assign: AssignHook | None = None,
        on_revoke: Callable[[list[tuple[str, int]]], None] | None = None,
    ) -> None: ...
    def consume(self, max_records: int, timeout_s: float) -> list[Record]: ...
    def commit(self, offsets: dict[tuple[str, int], int], wait: bool = False) -> None:
        """Commit explicit next offsets; ``wait``: block until the broker acknowledged."""

    def assignment(self) -> list[tuple[str, int]]: ...
    def position(self, tp: tuple[str, int]) -> int | None: ...
    def high_watermark(self, tp: tuple[str, int], cached: bool = False) -> int: ...
    def fetched_high_watermark(self, tp: tuple[str, int]) -> int | None:
        """The high watermark of the last fetch response of an assigned partition (None before one)."""

    def partitions(self, topic: str) -> list[int]: ...
    def close(self) -> None: ...


def _consumer_conf(cfg: StreamingConfig, group_id: str | None) -> dict[str, Any]:
    return {
        "group_id": group_id or cfg.group_id,
        "session_timeout_ms": int(cfg.session_timeout_ms),
        "heartbeat_interval_ms": max(100, int(cfg.session_timeout_ms) // 5),
    }


class ConfluentConsumer(Consumer):
    def __init__(self, cfg: StreamingConfig, group_id: str | None = None, **conf: Any):
        from confluent_kafka import Consumer as C

        c = _consumer_conf(cfg, group_id)
        self._c = C(
            {
                "bootstrap.servers": cfg.bootstrap_servers,
                "group.id": c["group_id"],
                "session.timeout.ms": c["session_timeout_ms"],
                "heartbeat.interval.ms": c["heartbeat_interval_ms"],
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 10,
                # librdkafka backs off before fetching again after a full local queue or a fetch
                # error (defaults 1 s / 500 ms). With the defaults the freshness benchmark saw
                # ~60 ms delivery gaps every ~2 s (p99 105-112 ms at 10k/s); with 5 ms, 85-92 ms.
                "fetch.error.backoff.ms": 5,
                "fetch.queue.backoff.ms": 5,
                "queued.max.messages.kbytes": 262144,
                **cfg.extra,
                **conf,
            }
        )

    def subscribe(self, topics, on_assign=None, on_revoke=None):
        def assign_cb(consumer, partitions):
            if on_assign is not None:
                start = on_assign([(p.topic, p.partition) for p in partitions])
                for p in partitions:
                    if (p.topic, p.partition) in start:
                        p.offset = start[(p.topic, p.partition)]
            consumer.assign(partitions)

        def revoke_cb(consumer, partitions):
            if on_revoke is not None:
                on_revoke([(p.topic, p.partition) for p in partitions])
            consumer.unassign()

        self._c.subscribe(topics, on_assign=assign_cb, on_revoke=revoke_cb)

    def consume(self, max_records, timeout_s):
        out = []
        append, new = out.append, tuple.__new__  # tuple.__new__: a Record without NamedTuple's Python-level __new__
        for m in self._c.consume(max_records, timeout_s):
            if m.error() is not None:
                continue  # partition EOF and transient errors: librdkafka retries by itself
            append(
                new(Record, (m.topic(), m.partition(), m.offset(), m.key(), m.value(), m.timestamp()[1], m.headers()))
            )
        return out

    def commit(self, offsets, wait=False):
        from confluent_kafka import TopicPartition

        if offsets:
            # Asynchronous per batch: the authoritative offsets are in Redis, written in the same
            # transaction as the results, and the job seeks to them on assignment; Kafka's copy is
            # for lag tools, so a batch need not wait for the broker (freshness). At shutdown: wait.
            tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
            self._c.commit(offsets=tps, asynchronous=not wait)

    def assignment(self):
        return [(p.topic, p.partition) for p in self._c.assignment()]

    def position(self, tp):
        from confluent_kafka import TopicPartition

        off = self._c.position([TopicPartition(*tp)])[0].offset
        return off if off >= 0 else None

    def high_watermark(self, tp, cached=False):
        from confluent_kafka import TopicPartition

        if cached:  # from the last fetch response: no broker round trip (lag metric)
            high = self._c.get_watermark_offsets(TopicPartition(*tp), cached=True)[1]
            if high >= 0:
                return high
        return self._c.get_watermark_offsets(TopicPartition(*tp), timeout=2.0, cached=False)[1]

    def fetched_high_watermark(self, tp):
        from confluent_kafka import TopicPartition

        high = self._c.get_watermark_offsets(TopicPartition(*tp), cached=True)[1]
        return high if high >= 0 else None

    def partitions(self, topic):
        return sorted(self._c.list_topics(topic, timeout=5.0).topics[topic].partitions)

    def close(self):
        self._c.close()


class KafkaPythonConsumer(Consumer):
    def __init__(self, cfg: StreamingConfig, group_id: str | None = None, **conf: Any):
        from kafka import KafkaConsumer

        c = _consumer_conf(cfg, group_id)
        self._c = KafkaConsumer(
            bootstrap_servers=cfg.bootstrap_servers,
            group_id=c["group_id"],
            session_timeout_ms=c["session_timeout_ms"],
            heartbeat_interval_ms=c["heartbeat_interval_ms"],
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=10,
            max_poll_records=10000,
            **conf,
        )

    def subscribe(self, topics, on_assign=None, on_revoke=None):
        from kafka import ConsumerRebalanceListener, TopicPartition

        c = self._c

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                if on_revoke is not None:
                    on_revoke([(tp.topic, tp.partition) for tp in revoked])

            def on_partitions_assigned(self, assigned):
                if on_assign is not None:
                    start = on_assign([(tp.topic, tp.partition) for tp in assigned])
                    for (t, p), off in start.items():
                        c.seek(TopicPartition(t, p), off)

        c.subscribe(topics, listener=Listener())

    def consume(self, max_records, timeout_s):
        out = []
        for records in self._c.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records).values():
            out.extend(
                Record(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp, r.headers or None) for r in records
            )
        return out

    def commit(self, offsets, wait=False):  # kafka-python's commit always waits
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        if offsets:
            self._c.commit({TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()})

    def assignment(self):
        return [(tp.topic, tp.partition) for tp in self._c.assignment()]

    def position(self, tp):
        from kafka import TopicPartition

        return self._c.position(TopicPartition(*tp))

    def high_watermark(self, tp, cached=False):
        from kafka import TopicPartition

        t = TopicPartition(*tp)
        if cached:  # from the last fetch response: no broker round trip (lag metric)
            high = self._c.highwater(t)
            if high is not None:
                return high
        return self._c.end_offsets([t])[t]

    def fetched_high_watermark(self, tp):
        from kafka import TopicPartition

        return self._c.highwater(TopicPartition(*tp))

    def partitions(self, topic):
        return sorted(self._c.partitions_for_topic(topic) or [])

    def close(self):
        self._c.close()


def make_producer(cfg: StreamingConfig, **conf: Any) -> Producer:
    return ConfluentProducer(cfg, **conf) if cfg.client == "confluent" else KafkaPythonProducer(cfg, **conf)


def make_consumer(cfg: StreamingConfig, group_id: str | None = None, **conf: Any) -> Consumer:
    return (
        ConfluentConsumer(cfg, group_id, **conf)
        if cfg.client == "confluent"
        else KafkaPythonConsumer(cfg, group_id, **conf)
    )
