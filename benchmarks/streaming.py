"""Streaming benchmark, one script: Kafka -> online features -> Redis.

1. Sustained throughput of the feature job (confluent-kafka, micro-batches, orjson, hiredis,
   one pipelined Redis transaction per batch), 1 and 2 consumer processes in one group over
   4 partitions, on events pre-loaded into the topic (drain rate: first to last micro-batch).
2. The same aggregation (same feature code, same Redis writes) done by a plain kafka-python
   consumer loop (stdlib json, per-poll pipeline), on the same topic: the ratio.
3. Event-to-score freshness at a steady 10,000 events/s: the job (1 process, champion scoring
   per micro-batch) consumes while the replayer publishes; freshness = time the score is in
   Redis (and the scores topic flushed) minus the producer timestamp, per event.

Runs on the real local broker (Tansu) and the real Redis (db 1, prefix ``cgbench:``, deleted
afterwards). Writes benchmarks/results/streaming.json. Usage:

    .venv/bin/python benchmarks/streaming.py [--events 150000] [--rate 10000] [--seconds 6]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from churnguard.core.benchmarking import write_result
from churnguard.core.config import PATHS, load_params
from churnguard.streaming.broker import LocalBroker, create_topics
from churnguard.streaming.config import StreamingConfig

REDIS_URL = "redis://127.0.0.1:6379/1"
PREFIX = "cgbench:"


def events_source(tmp: Path) -> Path:
    path = PATHS.raw / "events.parquet"
    if path.exists():
        return path
    from churnguard.world import generate_world

    cfg = load_params()["world"]
    cfg["customers"] = 8000
    generate_world(cfg, 42, tmp / "raw", tmp / "truth", progress=False)
    return tmp / "raw" / "events.parquet"


def topic_cfg(bootstrap: str, tag: str, partitions: int = 4, **over) -> StreamingConfig:
    cfg = StreamingConfig.from_params(
        bootstrap_servers=bootstrap,
        redis_url=REDIS_URL,
        events_topic=f"bench-{tag}",
        scores_topic=f"bench-scores-{tag}",
        dead_letter_topic=f"bench-dlq-{tag}",
        group_id=f"bench-{tag}",
        key_prefix=f"{PREFIX}{tag}:",
        session_timeout_ms=2000,
        **{"max_event_age_s": 0, **over},
    )  # the world's events are historical
    create_topics(bootstrap, {cfg.events_topic: partitions, cfg.scores_topic: partitions, cfg.dead_letter_topic: 1})
    return cfg


# --- worker processes --------------------------------------------------------------------------
def job_worker(cfg: StreamingConfig, group: str, score: bool, out: str, record: bool, max_events: int | None) -> None:
    from churnguard.streaming.job import FeatureJob

    scorer = None
    if score:
        scorer = _scorer(cfg)
    job = FeatureJob(cfg, scorer=scorer, group_id=group, record_freshness=record)
    import resource

    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = ru0.ru_utime + ru0.ru_stime  # after imports and model loading: the streaming work only
    Path(out + ".ready").write_text("1")
    job.run(until_caught_up=max_events is None, max_events=max_events, timeout_s=300)
    fresh = np.concatenate(job.freshness_ms, axis=1) if job.freshness_ms else np.zeros((2, 0))
    np.save(out + ".fresh.npy", fresh)
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    Path(out).write_text(
        json.dumps(
            {
                "n": job.processed,
                "first": job.first_record_s,
                "last": job.last_record_s,
                "cpu_s": ru.ru_utime + ru.ru_stime - cpu0,
                "batch_seconds_sum": job.metrics.value("churnguard_stream_batch_processing_seconds_sum"),
                "batches": job.metrics.value("churnguard_stream_batches_total"),
                "phase_s": {
                    ph: round(job.metrics.value("churnguard_stream_phase_seconds_total", phase=ph), 3)
                    for ph in ("features", "score", "publish", "redis", "commit")
                },
            }
        )
    )


def _scorer(cfg: StreamingConfig):
    from churnguard.streaming.scoring import RealtimeScorer

    try:
        return RealtimeScorer(cfg.model_uri, cfg.batch_features)
    except Exception as exc:  # no registered champion in this workspace: the trained bundle directory
        print(f"champion not loadable ({type(exc).__name__}: {exc}); scoring with the models/ directory")
        return RealtimeScorer(str(PATHS.models), cfg.batch_features)


def run_jobs(
    cfg: StreamingConfig,
    processes: int,
    score: bool = False,
    record: bool = False,
    before_wait=None,
    max_events: int | None = None,
) -> dict:
    ctx = mp.get_context("spawn")
    cpu_redis0, cpu_broker0 = redis_cpu(), broker_cpu()
    tmp = tempfile.mkdtemp(prefix="cgbench-")
    group = f"{cfg.group_id}-{uuid.uuid4().hex[:6]}"
    outs = [os.path.join(tmp, f"w{i}.json") for i in range(processes)]
    procs = [ctx.Process(target=job_worker, args=(cfg, group, score, o, record, max_events)) for o in outs]
    for p in procs:
        p.start()
    try:
        while not all(os.path.exists(o + ".ready") for o in outs):
            time.sleep(0.05)
        if before_wait is not None:
            before_wait(group)
        for p in procs:
            p.join(400)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    cpu_redis, cpu_broker = redis_cpu() - cpu_redis0, broker_cpu() - cpu_broker0
    res = [json.loads(Path(o).read_text()) for o in outs]
    fresh = [np.load(o + ".fresh.npy") for o in outs]
    n = sum(r["n"] for r in res)
    firsts = [r["first"] for r in res if r["first"]]
    lasts = [r["last"] for r in res if r["last"]]
    seconds = max(lasts) - min(firsts) if firsts else float("nan")
    return {
        "events": n,
        "seconds": round(seconds, 3),
        "events_per_s": round(n / seconds, 1),
        "cpu_busy_s": round(sum(r["batch_seconds_sum"] for r in res), 3),
        "batches": int(sum(r["batches"] for r in res)),
        "phase_s": {ph: round(sum(r["phase_s"][ph] for r in res), 3) for ph in res[0]["phase_s"]},
        "freshness_ms": np.concatenate(fresh, axis=1),
        # CPU seconds actually used (job processes incl. librdkafka threads, Redis server, broker):
        # what the run would need on cores of its own, whatever the machine's load was
        "cpu_s": {
            "job": round(sum(r["cpu_s"] for r in res), 3),
            "redis": round(cpu_redis, 3),
            "broker": round(cpu_broker, 3),
        },
        "events_per_job_cpu_s": round(n / max(1e-9, sum(r["cpu_s"] for r in res)), 1),
        "events_per_total_cpu_s": round(n / max(1e-9, sum(r["cpu_s"] for r in res) + cpu_redis + cpu_broker), 1),
    }


BROKER_PID: list[int] = []


def redis_cpu() -> float:
    import redis

    info = redis.Redis.from_url(REDIS_URL).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def broker_cpu() -> float:
    if not BROKER_PID:
        return 0.0
    fields = Path(f"/proc/{BROKER_PID[0]}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def waiting_for_group(cfg: StreamingConfig, group: str, timeout_s: float = 30.0) -> None:
    """Block until the group's consumers hold an assignment (offset hash appears after first batch,
    so watch the broker instead: a committed-offsets probe is not available on Tansu)."""
    time.sleep(min(timeout_s, cfg.session_timeout_ms / 1000.0 + 1.5))


# --- the peer: a plain kafka-python consumer loop -----------------------------------------------
def plain_kafka_python(cfg: StreamingConfig, total: int) -> dict:
    import json as stdjson

    import redis
    from kafka import KafkaConsumer

    from churnguard.streaming.features import FeatureParams, UserState, format_value
    from churnguard.streaming.schema import validate

    r = redis.Redis.from_url(cfg.redis_url)
    params = FeatureParams(cfg.window_s, cfg.allowed_lateness_s, cfg.session_retention_s)
    consumer = KafkaConsumer(
        cfg.events_topic,
        bootstrap_servers=cfg.bootstrap_servers,
        group_id=f"plain-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=cfg.session_timeout_ms,
        heartbeat_interval_ms=cfg.session_timeout_ms // 5,
    )
    states: dict[str, UserState] = {}
    prefix = cfg.key_prefix + "plain:"
    n, first = 0, None
    while n < total:
        polled = consumer.poll(timeout_ms=200)
        if not polled:
            continue
        if first is None:
            first = time.time()
        touched = {}
        for records in polled.values():
            for rec in records:
                e = validate(stdjson.loads(rec.value))
                st = states.setdefault(e.user_id, UserState())
                if st.apply(e, params) == 0:
                    touched[e.user_id] = st
                n += 1
        pipe = r.pipeline(transaction=True)
        for u, st in touched.items():
            pipe.hset(prefix + u, mapping={k: format_value(v) for k, v in st.features(params).items()})
            pipe.expire(prefix + u, cfg.ttl_s)
        pipe.execute()
        consumer.commit()
    seconds = time.time() - first
    consumer.close()
    return {"events": n, "seconds": round(seconds, 3), "events_per_s": round(n / seconds, 1)}


def cleanup() -> None:
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    keys = list(r.scan_iter(f"{PREFIX}*", count=5000))
    for i in range(0, len(keys), 1000):
        r.delete(*keys[i : i + 1000])


def throughput_runs(bootstrap: str, messages: list, n_events: int, numbers: dict) -> StreamingConfig:
    """1 + 2: a pre-loaded topic drained by the job (1 and 2 processes) and by the plain loop."""
    from churnguard.streaming.replayer import publish

    cfg = topic_cfg(bootstrap, "tp", score=False)
    numbers["produce_events_per_s"] = round(publish(cfg, messages[:n_events])["rate"], 1)
    for k in (1, 2):
        res = run_jobs(cfg.with_(key_prefix=f"{PREFIX}tp{k}:"), k)
        res.pop("freshness_ms")
        numbers[f"job_confluent_{k}proc"] = res
        print(f"job, {k} process(es): {res}", flush=True)
    plain = plain_kafka_python(cfg, n_events)
    numbers["plain_kafka_python_loop"] = plain
    print(f"plain kafka-python loop: {plain}", flush=True)
    one, two = numbers["job_confluent_1proc"]["events_per_s"], numbers["job_confluent_2proc"]["events_per_s"]
    numbers["throughput_events_per_s"] = max(one, two)
    numbers["ratio_job_1proc_to_plain_kafka_python"] = round(one / plain["events_per_s"], 2)
    numbers["ratio_best_to_plain_kafka_python"] = round(max(one, two) / plain["events_per_s"], 2)
    numbers["throughput_goal_50k_met"] = max(one, two) >= 50_000
    return cfg


def percentiles(x: np.ndarray) -> dict[str, float]:
    return {q: round(float(np.percentile(x, p)), 2) for q, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))}


def freshness_run(bootstrap: str, messages: list, label: str, rate: float, seconds: float, numbers: dict) -> None:
    """3: the job (1 process, champion score per micro-batch) consumes while the replayer publishes
    at ``rate``; freshness = score in Redis (scores topic flushed) minus producer timestamp, per event."""
    from churnguard.streaming.replayer import publish

    fcfg = topic_cfg(bootstrap, f"fresh{label}", score=True)
    n_fresh = int(rate * seconds)
    pubs: dict = {}

    def replay(group: str) -> None:
        waiting_for_group(fcfg, group)
        pubs.update(publish(fcfg, messages[:n_fresh], rate=rate))

    res = run_jobs(fcfg, 1, score=True, record=True, before_wait=replay, max_events=n_fresh)
    fresh = res.pop("freshness_ms")
    numbers[f"freshness_run{label}"] = {
        **res,
        "publish_rate_achieved": round(pubs.get("rate", 0.0), 1),
        "target_rate": rate,
    }
    if fresh.size:
        ts, lat = fresh
        numbers[f"freshness_ms{label}"] = percentiles(lat)
        # the same without the first second of publishing (group join and warm-up backlog)
        numbers[f"freshness_ms{label}_after_first_second"] = percentiles(lat[ts >= ts.min() + 1000])
    print(f"freshness at {rate:.0f} events/s: {numbers.get(f'freshness_ms{label}')}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000, help="events pre-loaded for the throughput runs")
    ap.add_argument("--rate", type=float, default=10_000.0, help="steady publish rate of the freshness run")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each freshness run")
    ap.add_argument("--low-rate", type=float, default=2_000.0, help="rate of the second freshness run")
    args = ap.parse_args()

    from churnguard.streaming.replayer import encode_events, load_events

    load = os.getloadavg()
    numbers: dict = {"load_average_at_start": [round(x, 2) for x in load]}
    with tempfile.TemporaryDirectory() as tmp, LocalBroker.start() as broker:
        BROKER_PID.append(broker.pid)
        src = events_source(Path(tmp))
        messages = encode_events(load_events(src, limit=max(args.events, int(args.rate * args.seconds))))
        print(f"{len(messages)} events from {src}; broker {broker.bootstrap}; load average {load}", flush=True)
        try:
            cfg = throughput_runs(broker.bootstrap, messages, args.events, numbers)
            # then freshness at the target rate, and at a low rate where the job keeps up even on a loaded machine
            for label, rate in (("", args.rate), ("_low_rate", args.low_rate)):
                freshness_run(broker.bootstrap, messages, label, rate, args.seconds, numbers)
            numbers["freshness_p99_goal_100ms_met"] = numbers.get("freshness_ms", {}).get("p99", 1e9) <= 100.0
        finally:
            cleanup()
    numbers["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    run = {
        "events": args.events,
        "rate": args.rate,
        "low_rate": args.low_rate,
        "seconds": args.seconds,
        "partitions": 4,
        "batch_size": cfg.batch_size,
        "broker": "tansu 0.6.0 (memory)",
        "redis": REDIS_URL,
    }
    write_result("streaming", run, numbers)
    print(summary(numbers), flush=True)


def summary(n: dict) -> str:
    fresh, low = n.get("freshness_ms", {}), n.get("freshness_ms_low_rate", {})
    return (
        f"summary: job {n['job_confluent_1proc']['events_per_s']:.0f} events/s (1 process), "
        f"{n['job_confluent_2proc']['events_per_s']:.0f} (2), plain kafka-python "
        f"{n['plain_kafka_python_loop']['events_per_s']:.0f}; freshness p99 {fresh.get('p99')} ms at the target rate, "
        f"{low.get('p99')} ms at the low rate; load {n['load_average_at_start']} -> {n['load_average_at_end']}"
    )


if __name__ == "__main__":
    main()
