"""The streaming feature job: a Kafka consumer group -> per-user online features in Redis ->
real-time churn scores (Redis + the ``scores`` topic), in micro-batches.

Per micro-batch (up to ``batch_size`` events or ``batch_timeout_ms``):
1. decode + validate each event; invalid ones go to the dead-letter topic with the reason;
2. load the state of users not cached from Redis (one pipelined round trip);
3. apply events (:mod:`components.streaming.features`): duplicates (same event id) are skipped,
   late events go to the dead-letter topic with reason ``late``;
4. one ``predict`` call for every touched user (champion bundle, :mod:`.scoring`);
5. produce scores and dead letters and flush them;
6. ONE Redis transaction (MULTI/EXEC): each touched user's hash (features, score, the exact
   state ``_state``), its TTL, and the next offset of every partition in the batch;
7. only then commit the offsets to Kafka.

Exactly-once effect in Redis: offsets live in the same transaction as the results, and on
(re)assignment the job seeks to the offsets Redis holds. A crash between 6 and 7 replays
events Redis already counted; the seek skips them (and event-id idempotency would too).
Scale-out: more partitions and more processes with the same ``group_id``.
"""
from __future__ import annotations

import gc
import math
import time
from typing import Any

import numpy as np
import orjson

from components.online_store import STATE_FIELD, offsets_key, user_key
from components.streaming.clients import Record, make_consumer, make_producer
from components.streaming.config import StreamingConfig
from components.streaming.features import APPLIED, DUPLICATE, FeatureParams, UserState
from components.streaming.metrics import JobMetrics
from components.streaming.schema import InvalidEvent, decode


def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=10)


class FeatureJob:
    def __init__(self, cfg: StreamingConfig, scorer: Any = None, group_id: str | None = None,
                 metrics: JobMetrics | None = None, record_freshness: bool = False, pause_ms: float = 0.0):
        self.cfg = cfg
        self.group_id = group_id or cfg.group_id
        self.params = FeatureParams(cfg.window_s, cfg.allowed_lateness_s, cfg.session_retention_s)
        self.redis = redis_client(cfg.redis_url)
        self.consumer = make_consumer(cfg, self.group_id)
        self.producer = make_producer(cfg, **({"linger.ms": 1} if cfg.client == "confluent" else {}))
        self.scorer = scorer
        self.metrics = metrics or JobMetrics()
        self.states: dict[str, UserState] = {}
        self.offsets_key = offsets_key(self.group_id, cfg.key_prefix)
        self.next_offsets: dict[tuple[str, int], int] = {}
        self.record_freshness = record_freshness
        self.freshness_ms: list[np.ndarray] = []
        self.pause_s = pause_ms / 1000.0
        self.processed = 0
        self.first_record_s: float | None = None   # wall clock of the first / last micro-batch
        self.last_record_s: float | None = None
        self._tracer = _tracer() if cfg.tracing else None
        # The model and the batch table live as long as the job: take them out of the cyclic
        # collector's generations so that full collections stay short (freshness tail).
        gc.collect()
        gc.freeze()

    # --- assignment: seek to what Redis holds ----------------------------------------------------
    def _on_assign(self, tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        self.states.clear()  # another member may have written these users meanwhile
        held = self.redis.hgetall(self.offsets_key)
        start = {}
        for t, p in tps:
            raw = held.get(f"{t}:{p}".encode())
            if raw is not None:
                start[(t, p)] = int(raw)
                self.next_offsets[(t, p)] = int(raw)
        return start

    def _on_revoke(self, tps: list[tuple[str, int]]) -> None:
        self.states.clear()
        for tp in tps:
            self.next_offsets.pop(tp, None)

    def start(self) -> None:
        self.consumer.subscribe([self.cfg.events_topic], on_assign=self._on_assign, on_revoke=self._on_revoke)

    # --- one micro-batch ---------------------------------------------------------------------------
    def process(self, records: list[Record]) -> int:
        t0 = time.perf_counter()
        if self.first_record_s is None:
            self.first_record_s = time.time()
        span = self._tracer.start_span("churnguard.stream.batch") if self._tracer else None
        cfg, params, m = self.cfg, self.params, self.metrics
        events, dead, offsets = [], [], {}
        for r in records:
            try:
                events.append(decode(r.value))
            except InvalidEvent as exc:
                dead.append((r, "invalid", str(exc)))
            offsets[(r.topic, r.partition)] = r.offset + 1
        self._load_states({e.user_id for e in events})
        states, touched = self.states, {}
        n_dup = 0
        for e in events:
            st = states.get(e.user_id)
            if st is None:
                st = states[e.user_id] = UserState()
            outcome = st.apply(e, params)
            if outcome == APPLIED:
                touched[e.user_id] = st
            elif outcome == DUPLICATE:
                n_dup += 1
            else:
                dead.append((None, "late", orjson.dumps({"reason": "late", "event": e._asdict(),
                                                         "watermark_ms": st.last_ts,
                                                         "allowed_lateness_s": cfg.allowed_lateness_s})))
        users = list(touched)
        rows = [touched[u].features(params) for u in users]
        t1 = time.perf_counter()
        probs = self.scorer.score(users, rows) if (self.scorer is not None and users) else None
        version = self.scorer.version if probs is not None else None
        t2 = time.perf_counter()
        self._publish(users, rows, probs, version, dead)
        t3 = time.perf_counter()
        self._write_redis(users, rows, probs, version, offsets)
        t4 = time.perf_counter()
        self.consumer.commit(offsets)
        t5 = time.perf_counter()
        ph = m.phase_seconds
        ph.labels("features").inc(t1 - t0)
        ph.labels("score").inc(t2 - t1)
        ph.labels("publish").inc(t3 - t2)
        ph.labels("redis").inc(t4 - t3)
        ph.labels("commit").inc(t5 - t4)
        self.next_offsets.update(offsets)
        done_ms = time.time() * 1000.0
        n_late = sum(1 for d in dead if d[1] == "late")
        n_invalid = len(dead) - n_late
        m.events.labels("applied").inc(len(events) - n_dup - n_late)
        m.events.labels("duplicate").inc(n_dup)
        m.events.labels("late").inc(n_late)
        m.events.labels("invalid").inc(n_invalid)
        if n_late:
            m.dead_letters.labels("late").inc(n_late)
        if n_invalid:
            m.dead_letters.labels("invalid").inc(n_invalid)
        if probs is not None:
            m.scores.inc(len(users))
        m.batches.inc()
        m.batch_seconds.observe(time.perf_counter() - t0)
        ts = np.fromiter((r.timestamp_ms for r in records), dtype=np.float64, count=len(records))
        if ts.size:
            m.freshness.observe(max(0.0, (done_ms - ts.min()) / 1000.0))
            if self.record_freshness:  # (producer timestamp, event-to-score ms) per event
                self.freshness_ms.append(np.stack([ts, done_ms - ts]))
        if span is not None:
            span.set_attribute("events", len(records))
            span.set_attribute("users", len(users))
            span.end()
        self.processed += len(records)
        self.last_record_s = time.time()
        return len(records)

    def _load_states(self, users: set[str]) -> None:
        missing = [u for u in users if u not in self.states]
        if not missing:
            return
        pipe = self.redis.pipeline(transaction=False)
        for u in missing:
            pipe.hget(user_key(u, self.cfg.key_prefix), STATE_FIELD)
        for u, raw in zip(missing, pipe.execute()):
            if raw is not None:
                self.states[u] = UserState.loads(raw)

    def _publish(self, users, rows, probs, version, dead) -> None:
        cfg, prod = self.cfg, self.producer
        if probs is not None:
            for u, row, pr in zip(users, rows, probs):
                prod.produce(cfg.scores_topic, orjson.dumps(
                    {"user_id": u, "rt_churn_probability": float(pr), "model_version": version,
                     "event_ms": row["last_event_ms"], "session_urgency": row["session_urgency"]}), u)
        for rec, reason, detail in dead:
            if rec is not None:
                value = orjson.dumps({"reason": detail, "kind": reason, "topic": rec.topic,
                                      "partition": rec.partition, "offset": rec.offset,
                                      "raw": (rec.value or b"").decode("utf-8", "replace")})
                prod.produce(cfg.dead_letter_topic, value, rec.key)
            else:
                prod.produce(cfg.dead_letter_topic, detail)
        if probs is not None or dead:
            left = prod.flush(30.0)
            if left:
                raise RuntimeError(f"{left} score/dead-letter messages not delivered; not committing")

    def _write_redis(self, users, rows, probs, version, offsets) -> None:
        cfg = self.cfg
        pipe = self.redis.pipeline(transaction=True)
        cmd, ttl, prefix, states = pipe.execute_command, cfg.ttl_s, cfg.key_prefix, self.states
        for i, u in enumerate(users):
            row = rows[i]
            flat = []
            for k, v in row.items():
                flat.append(k)
                flat.append(repr(v) if type(v) is float else str(v))
            flat += ("updated_ms", str(row["last_event_ms"]))
            if probs is not None:
                flat += ("rt_churn_probability", repr(float(probs[i])), "model_version", version)
            flat += (STATE_FIELD, states[u].dumps())
            key = user_key(u, prefix)
            cmd("HSET", key, *flat)
            cmd("EXPIRE", key, ttl)
        if offsets:
            cmd("HSET", self.offsets_key, *[x for (t, p), o in offsets.items() for x in (f"{t}:{p}", o)])
        for attempt in range(6):
            try:
                pipe.execute()
                return
            except Exception:  # redis.RedisError / connection loss: retry the same idempotent write
                self.metrics.redis_errors.inc()
                if attempt == 5:
                    raise
                time.sleep(0.2 * 2 ** attempt)

    # --- loop ----------------------------------------------------------------------------------------
    def update_lag(self) -> int:
        total = 0
        for tp in self.consumer.assignment():
            # cached: a broker round trip per partition here stalled a micro-batch every 5 s
            high = self.consumer.high_watermark(tp, cached=True)
            pos = self.next_offsets.get(tp)
            if pos is None:
                pos = self.consumer.position(tp) or 0
            lag = max(0, high - pos)
            self.metrics.lag.labels(tp[0], str(tp[1])).set(lag)
            total += lag
        return total

    def group_caught_up(self) -> bool:
        """True when the offsets Redis holds for this group reach the high watermark of EVERY
        partition of the topic (not only this member's: another member may still be joining)."""
        topic = self.cfg.events_topic
        held = self.redis.hgetall(self.offsets_key)
        for p in self.consumer.partitions(topic):
            high = self.consumer.high_watermark((topic, p))
            if high > 0 and int(held.get(f"{topic}:{p}".encode(), 0)) < high:
                return False
        return True

    def run(self, max_events: int | None = None, until_caught_up: bool = False, timeout_s: float | None = None,
            stop: Any = None) -> int:
        """Consume until ``max_events``, until the whole group is caught up with the high watermarks
        (:meth:`group_caught_up`), until ``timeout_s``, or until ``stop.is_set()``. Returns events consumed."""
        self.start()
        t_end = time.monotonic() + timeout_s if timeout_s else math.inf
        last_lag = 0.0
        try:
            while time.monotonic() < t_end and not (stop is not None and stop.is_set()):
                records = self.consumer.consume(self.cfg.batch_size, self.cfg.batch_timeout_ms / 1000.0)
                if records:
                    self.process(records)
                    if self.pause_s:
                        time.sleep(self.pause_s)
                    if max_events is not None and self.processed >= max_events:
                        break
                elif until_caught_up and self.group_caught_up():
                    break
                now = time.monotonic()
                if now - last_lag > 5.0 and self.consumer.assignment():
                    last_lag = now
                    self.update_lag()
        finally:
            self.close()
        return self.processed

    def close(self) -> None:
        try:
            self.consumer.close()
        finally:
            self.producer.flush(10.0)


def _tracer():
    try:
        from opentelemetry import trace

        return trace.get_tracer("churnguard.streaming")
    except ImportError:  # tracing is optional
        return None

