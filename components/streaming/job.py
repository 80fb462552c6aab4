"""The streaming feature job: a Kafka consumer group -> per-user online features in Redis ->
real-time churn scores (Redis + the ``scores`` topic), in micro-batches.

Per micro-batch (up to ``batch_size`` events or ``batch_timeout_ms``):
1. decode + validate each event (intake.py); invalid ones, and events dated too far ahead of /
   behind the job's clock, go to the dead-letter topic with the reason (bounded: deadletters.py);
2. load the state of users not cached from Redis (one pipelined round trip);
3. apply events (:mod:`churnguard.streaming.features`): duplicates (same event id) are skipped,
   late events go to the dead-letter topic with reason ``late``;
4. one ``predict`` call for every touched user (champion bundle, :mod:`.scoring`);
5. produce scores and dead letters and flush them (a failed produce is counted; a dead letter
   Kafka refuses twice is parked in Redis in step 6; the job never stops on one);
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
import logging
import math
import time
from typing import Any

import numpy as np
import orjson

from churnguard.core.online_store import STATE_FIELD, offsets_key, parked_key, user_key
from churnguard.streaming.clients import Record, make_consumer, make_producer
from churnguard.streaming.config import StreamingConfig
from churnguard.streaming.deadletters import DeadLetterSender, Letter, event_letter, parked_record
from churnguard.streaming.features import APPLIED, DUPLICATE, FeatureParams, UserState
from churnguard.streaming.intake import decode_batch
from churnguard.streaming.metrics import JobMetrics
from churnguard.streaming.tracing import child_span, start_batch_span

DEAD_LETTER_KINDS = ("invalid", "future", "too_old", "late")
PARKED_MAX = 100_000  # parked dead letters kept in Redis (the newest)
# Shutdown budget: a stop waits for the micro-batch in hand, whose produce flush waits at most
# PUBLISH_FLUSH_S, then for the final flush (CLOSE_FLUSH_S) and commit. The grace periods of
# deploy/k8s and docker/compose.yaml cover it (tests/ops checks); a kill past it loses nothing.
PUBLISH_FLUSH_S = 30.0
CLOSE_FLUSH_S = 10.0
STOP_BUDGET_S = PUBLISH_FLUSH_S + CLOSE_FLUSH_S + 5.0  # + the batch's own work and the final commit
log = logging.getLogger(__name__)


def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=10)


class FeatureJob:
    def __init__(
        self,
        cfg: StreamingConfig,
        scorer: Any = None,
        group_id: str | None = None,
        metrics: JobMetrics | None = None,
        record_freshness: bool = False,
        pause_ms: float = 0.0,
        tracing: bool = False,
    ):
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
        self.parked_key = parked_key(self.group_id, cfg.key_prefix)
        self.dead_letters = DeadLetterSender(self.producer, cfg.dead_letter_topic, self.metrics)
        self._score_failures = 0
        self.next_offsets: dict[tuple[str, int], int] = {}
        self.record_freshness = record_freshness
        self.freshness_ms: list[np.ndarray] = []
        self.pause_s = pause_ms / 1000.0
        self.processed = 0
        self.first_record_s: float | None = None  # wall clock of the first / last micro-batch
        self.last_record_s: float | None = None
        self.tracing = tracing or cfg.tracing  # spans per micro-batch (exported once telemetry set up an SDK)
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
        batch_span = start_batch_span(records) if self.tracing else None
        params = self.params
        intake = decode_batch(records, self.cfg, time.time() * 1000.0)
        events, letters, offsets = intake.events, intake.letters, intake.offsets
        self._load_states({e.user_id for e in events})
        touched, n_dup = self._apply(events, intake.sources, letters)
        users = list(touched)
        rows = [touched[u].features(params) for u in users]
        t1 = time.perf_counter()
        probs = version = None
        if self.scorer is not None and users:
            with child_span(batch_span, "churnguard.stream.score", users=len(users)):
                probs, version = self.scorer.score(users, rows), self.scorer.version
        t2 = time.perf_counter()
        parked = self._publish(users, rows, probs, version, letters)
        t3 = time.perf_counter()
        with child_span(batch_span, "churnguard.stream.redis_write", users=len(users), parked=len(parked)):
            self._write_redis(users, rows, probs, version, offsets, parked)
        t4 = time.perf_counter()
        self.consumer.commit(offsets)
        t5 = time.perf_counter()
        ph = self.metrics.phase_seconds
        for phase, seconds in (
            ("features", t1 - t0),
            ("score", t2 - t1),
            ("publish", t3 - t2),
            ("redis", t4 - t3),
            ("commit", t5 - t4),
        ):
            ph.labels(phase).inc(seconds)
        self.next_offsets.update(offsets)
        self._count(records, len(events), n_dup, letters, len(users) if probs is not None else 0, t0)
        if batch_span is not None:
            batch_span.set_attribute("churnguard.users", len(users))
            batch_span.set_attribute("churnguard.dead_letters", len(letters))
            batch_span.end()
        self.processed += len(records)
        self.last_record_s = time.time()
        return len(records)

    def _apply(self, events, sources, letters) -> tuple[dict[str, UserState], int]:
        states, params, touched, n_dup = self.states, self.params, {}, 0
        for e, r in zip(events, sources):
            st = states.get(e.user_id)
            if st is None:
                st = states[e.user_id] = UserState()
            outcome = st.apply(e, params)
            if outcome == APPLIED:
                touched[e.user_id] = st
            elif outcome == DUPLICATE:
                n_dup += 1
            else:
                letters.append(
                    event_letter(
                        "late", "late", r, e, watermark_ms=st.last_ts, allowed_lateness_s=self.cfg.allowed_lateness_s
                    )
                )
        return touched, n_dup

    def _count(self, records, n_valid: int, n_dup: int, letters: list[Letter], n_scores: int, t0: float) -> None:
        m = self.metrics
        kinds: dict[str, int] = {}
        for x in letters:
            kinds[x.kind] = kinds.get(x.kind, 0) + 1
        m.events.labels("applied").inc(n_valid - n_dup - kinds.get("late", 0))
        m.events.labels("duplicate").inc(n_dup)
        for kind in DEAD_LETTER_KINDS:
            m.events.labels(kind).inc(kinds.get(kind, 0))
            if kinds.get(kind):
                m.dead_letters.labels(kind).inc(kinds[kind])
        if n_scores:
            m.scores.inc(n_scores)
        m.batches.inc()
        m.batch_seconds.observe(time.perf_counter() - t0)
        done_ms = time.time() * 1000.0
        ts = np.fromiter((r.timestamp_ms for r in records), dtype=np.float64, count=len(records))
        if ts.size:
            m.freshness.observe(max(0.0, (done_ms - ts.min()) / 1000.0))
            if self.record_freshness:  # (producer timestamp, event-to-score ms) per event
                self.freshness_ms.append(np.stack([ts, done_ms - ts]))

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

    def _score_delivered(self, err, _msg=None) -> None:
        if err is not None:
            self._score_failures += 1

    def _publish(self, users, rows, probs, version, letters: list[Letter]) -> list[Letter]:
        """Produce scores and dead letters and flush; returns the dead letters to park in Redis.
        A failed produce is counted and never stops the job (see deadletters.py)."""
        cfg, prod = self.cfg, self.producer
        self._score_failures = 0
        if probs is not None:
            for u, row, pr in zip(users, rows, probs):
                try:
                    prod.produce(
                        cfg.scores_topic,
                        orjson.dumps(
                            {
                                "user_id": u,
                                "rt_churn_probability": float(pr),
                                "model_version": version,
                                "event_ms": row["last_event_ms"],
                                "session_urgency": row["session_urgency"],
                            }
                        ),
                        u,
                        on_delivery=self._score_delivered,
                    )
                except Exception:  # the score is in Redis anyway; the topic copy is best effort, counted
                    self._score_failures += 1
        parked = self.dead_letters.send(letters) if letters else []
        if probs is not None and not letters:
            prod.flush(PUBLISH_FLUSH_S)
        if self._score_failures:
            self.metrics.produce_errors.labels("score").inc(self._score_failures)
        return parked

    def _write_redis(self, users, rows, probs, version, offsets, parked: list[Letter] | None = None) -> None:
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
        if parked:
            cmd("RPUSH", self.parked_key, *[parked_record(x) for x in parked])
            cmd("LTRIM", self.parked_key, -PARKED_MAX, -1)
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
                time.sleep(0.2 * 2**attempt)

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
        partition of the topic (not only this member's: another member may still be joining).

        Never before this member holds an assignment and has fetched from each of its partitions:
        a broker's ListOffsets answer may lag (Tansu 0.6 answers the last produced batch's base
        offset + 1), the fetch response's watermark does not, so an assigned partition counts with
        the larger of the two. A restarted job thus never takes a stale answer for "caught up"."""
        assigned = set(self.consumer.assignment())
        if not assigned:
            return False
        topic = self.cfg.events_topic
        held = self.redis.hgetall(self.offsets_key)
        for p in self.consumer.partitions(topic):
            tp = (topic, p)
            high = self.consumer.high_watermark(tp)
            if tp in assigned:
                fetched = self.consumer.fetched_high_watermark(tp)
                if fetched is None:
                    return False
                high = max(high, fetched)
            if high > 0 and int(held.get(f"{topic}:{p}".encode(), 0)) < high:
                return False
        return True

    def run(
        self,
        max_events: int | None = None,
        until_caught_up: bool = False,
        timeout_s: float | None = None,
        stop: Any = None,
    ) -> int:
        """Consume until ``max_events``, until the whole group is caught up with the high watermarks
        (:meth:`group_caught_up`), until ``timeout_s``, or until ``stop.is_set()`` (`churnguard stream`
        sets it on SIGTERM/SIGINT). A stop never cuts a micro-batch: the one in hand is written to
        Redis and committed first, then :meth:`close` commits synchronously and leaves the group.
        Returns the events consumed (= applied to Redis)."""
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
        """Flush the producer, commit the applied offsets to Kafka and wait for it, leave the group
        (so a replacement is assigned the partitions at once, not after the session timeout)."""
        try:
            self.producer.flush(CLOSE_FLUSH_S)
            if self.next_offsets:
                self.consumer.commit(dict(self.next_offsets), wait=True)
        except Exception as exc:  # Redis holds the authoritative offsets: a restart resumes from them
            log.warning("final Kafka commit failed (%s: %s); Redis holds the offsets", type(exc).__name__, exc)
        finally:
            self.consumer.close()
