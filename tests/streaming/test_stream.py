"""The feature job against the real broker (Tansu) and real Redis (db 1, unique prefixes)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import orjson
import pandas as pd
import pytest

from churnguard.core.online_store import STATE_FIELD, offsets_key, read_online
from churnguard.streaming.clients import make_producer
from churnguard.streaming.features import ONLINE_FEATURES, FeatureParams, batch_features
from churnguard.streaming.job import FeatureJob
from churnguard.streaming.replayer import DAY_MS, encode_events
from churnguard.streaming.schema import encode
from tests.streaming.conftest import delete_prefix, make_config, read_topic
from tests.workspace import REPO

T0 = 1_782_777_600_000  # 2026-06-30


def publish(cfg, messages):
    p = make_producer(cfg)
    for key, value in messages:
        p.produce(cfg.events_topic, value, key)
    assert p.flush(30) == 0


def run_job(cfg, **kw):
    job = FeatureJob(cfg, **kw)
    job.run(until_caught_up=True, timeout_s=60)
    return job


def msg(eid, user, ts, cart, etype="add_to_cart", page="product", session=1):
    return user, encode(eid, user, session, etype, ts, page, cart)


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_urgency_exactly_at_the_5s_and_100_boundaries(stream_cfg, redis_db1, client):
    cfg = stream_cfg(client=client)
    cases = {
        "U_on": (4999, 100.01, 1),
        "U_gap5": (5000, 100.01, 0),
        "U_cart100": (4999, 100.0, 0),
        "U_both": (5000, 100.0, 0),
        "U_fast_big": (10, 250.0, 1),
    }
    msgs, eid = [], 0
    for user, (gap, cart, _) in cases.items():
        msgs += [msg(eid, user, T0, 30.0), msg(eid + 1, user, T0 + gap, cart)]
        eid += 2
    publish(cfg, msgs)
    job = run_job(cfg)
    for user, (gap, cart, urgent) in cases.items():
        row = read_online(redis_db1, user, cfg.key_prefix)
        assert row["session_urgency"] == urgent, (user, row)
        assert row["time_since_last_click_s"] == gap / 1000 and row["cart_value"] == cart
        assert row["events_total"] == 2 and STATE_FIELD not in row
        assert 0 < redis_db1.ttl(f"{cfg.key_prefix}{user}") <= cfg.ttl_s
    assert job.metrics.value("churnguard_stream_events_total", outcome="applied") == 10


def test_dead_letters_with_reason_late_rule_and_replay_idempotency(stream_cfg, redis_db1, broker):
    cfg = stream_cfg(partitions=1)
    good = [msg(i, "U1", T0 + 1000 * i, 10.0 * i) for i in range(5)]
    bad = [
        ("U1", b"{broken"),
        ("U1", orjson.dumps({"v": 9, "user_id": "U1"})),
        (
            "U1",
            orjson.dumps(
                {
                    "v": 1,
                    "event_id": 77,
                    "user_id": "U1",
                    "session_id": 1,
                    "event_type": "click",
                    "ts": T0,
                    "page": "home",
                }
            ),
        ),
        msg(50, "U1", T0 + 4000 - 60_001, 5.0),
    ]  # older than watermark - 60 s: late
    publish(cfg, good + bad + good)  # the good events a second time: a replay
    job = run_job(cfg)
    row = read_online(redis_db1, "U1", cfg.key_prefix)
    assert row["events_total"] == 5 and row["cart_value"] == 40.0 and row["session_events"] == 5
    dlq = [orjson.loads(m.value()) for m in read_topic(broker.bootstrap, cfg.dead_letter_topic, expected=4)]
    reasons = sorted(d["reason"] for d in dlq)
    assert len(dlq) == 4, reasons
    assert any(r.startswith("not valid JSON") for r in reasons)
    assert "unsupported schema version 9 (expected the integer 1)" in reasons
    assert "missing field 'cart_value'" in reasons
    assert "late" in reasons
    late = next(d for d in dlq if d["reason"] == "late")
    assert late["event"]["event_id"] == 50 and late["watermark_ms"] == T0 + 4000
    m = job.metrics
    assert m.value("churnguard_stream_dead_letters_total", reason="invalid") == 3
    assert m.value("churnguard_stream_dead_letters_total", reason="late") == 1
    assert m.value("churnguard_stream_events_total", outcome="duplicate") == 5
    assert m.value("churnguard_stream_batch_processing_seconds_count") >= 1
    assert redis_db1.hget(offsets_key(cfg.group_id, cfg.key_prefix), f"{cfg.events_topic}:0") == b"14"


# --- a day of the tiny world's events, with the champion's real-time score ---------------------
@pytest.fixture(scope="module")
def day_replay(stream_workspace, broker, redis_db1):
    """The last day of a small world's events in one topic; a clean run of the job (subprocess,
    scoring with that workspace's MLflow champion) into prefix A."""
    ws = stream_workspace
    events = pd.read_parquet(ws.root / "data" / "raw" / "events.parquet")
    obs = int(pd.Timestamp(ws.params["world"]["observation_date"]).value // 1_000_000)
    day = events[(events["ts"] >= obs - DAY_MS) & (events["ts"] < obs)].sort_values(["ts", "event_id"])
    cfg = make_config(broker.bootstrap, partitions=2)
    publish(cfg, encode_events(day))
    prefix_a = cfg.key_prefix + "clean:"
    clean = run_cli(ws, cfg, prefix_a, "clean")
    assert clean.returncode == 0, clean.stdout[-2000:] + clean.stderr[-3000:]
    yield ws, cfg, day, prefix_a
    delete_prefix(redis_db1, cfg.key_prefix)


def stream_cmd(cfg, prefix, group, *extra):
    return [
        sys.executable,
        "-m",
        "churnguard.cli",
        "stream",
        "--bootstrap",
        cfg.bootstrap_servers,
        "--group",
        group,
        "--redis-url",
        cfg.redis_url,
        "--prefix",
        prefix,
        "--until-caught-up",
        "--timeout",
        "90",
        *extra,
    ]


def stream_env(ws, cfg):
    # the job reads the workspace's params.yaml (topics: write_topics) and its MLflow store
    return dict(ws.env, CHURNGUARD_KAFKA_BOOTSTRAP=cfg.bootstrap_servers)


def run_cli(ws, cfg, prefix, group, *extra):
    write_topics(ws, cfg)
    return subprocess.run(
        stream_cmd(cfg, prefix, cfg.group_id + group, *extra),
        cwd=REPO,
        env=stream_env(ws, cfg),
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_topics(ws, cfg):
    import yaml

    services = ws.root / "services.yaml"
    params = yaml.safe_load(services.read_text())
    params["streaming"].update(
        events_topic=cfg.events_topic,
        scores_topic=cfg.scores_topic,
        dead_letter_topic=cfg.dead_letter_topic,
        session_timeout_ms=2000,
        max_event_age_s=0,
    )  # the world's fixed 2026-06 event times
    services.write_text(yaml.safe_dump(params, sort_keys=False))


def user_hashes(client, prefix):
    out = {}
    for key in client.scan_iter(f"{prefix}*", count=1000):
        out[key.decode()[len(prefix) :]] = client.hgetall(key)  # job keys are outside the user prefix
    return out


def test_replayed_day_equals_batch_computation_and_is_scored(day_replay, redis_db1):
    ws, cfg, day, prefix = day_replay
    batch = batch_features(day, FeatureParams(cfg.window_s, cfg.allowed_lateness_s, cfg.session_retention_s))
    assert len(batch) > 50
    stream = {u: read_online(redis_db1, u, prefix) for u in batch.index}
    for user, want in batch.iterrows():
        got = stream[user]
        for k in ONLINE_FEATURES:
            if isinstance(want[k], float) and math.isnan(want[k]):
                assert math.isnan(got[k]), (user, k)
            else:
                assert got[k] == pytest.approx(float(want[k]), rel=0, abs=1e-9), (user, k, got[k], want[k])
        assert 0.0 <= got["rt_churn_probability"] <= 1.0
    assert {stream[u]["model_version"] for u in batch.index} == {1.0}  # the workspace's champion
    scores = read_topic(cfg.bootstrap_servers, cfg.scores_topic)
    assert {orjson.loads(m.value())["user_id"] for m in scores} == set(batch.index)


def start_job(ws, cfg, prefix, group, *extra) -> subprocess.Popen:
    """A slowed-down job subprocess (small batches, a pause after each), in its own process group."""
    return subprocess.Popen(
        stream_cmd(cfg, prefix, group, "--batch-size", "200", "--pause-ms", "40", *extra),
        cwd=REPO,
        env=stream_env(ws, cfg),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def applied(client, okey) -> int:
    """Events the job has applied to Redis: the sum of the next offsets it holds (topics start at 0)."""
    return sum(int(v) for v in client.hvals(okey))


def wait_until_applied(proc, client, okey, at_least: int, total: int) -> int:
    deadline = time.monotonic() + 90
    done = applied(client, okey)
    while time.monotonic() < deadline and proc.poll() is None and done < at_least:
        time.sleep(0.01)
        done = applied(client, okey)
    if proc.poll() is not None:
        raise AssertionError(f"job exited early ({proc.returncode}): {proc.stdout.read()[-3000:]}")
    assert at_least <= done < total, f"not mid-stream: {done}/{total}"
    return done


def kafka_committed(cfg, group) -> dict[str, int]:
    """The group's committed offsets in Kafka (OffsetFetch, without joining the group)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": cfg.bootstrap_servers, "group.id": group, "enable.auto.commit": False})
    try:
        parts = [TopicPartition(cfg.events_topic, p) for p in range(cfg.partitions)]
        return {f"{t.topic}:{t.partition}": t.offset for t in c.committed(parts, timeout=10) if t.offset >= 0}
    finally:
        c.close()


def sigterm_mid_stream(ws, cfg, client, prefix, group, okey, total) -> float:
    """SIGTERM at ~25 %: the job exits 0 within seconds, stops consuming, has written everything it
    consumed to Redis and committed the same offsets to Kafka. Returns the seconds to exit."""
    proc = start_job(ws, cfg, prefix, group)
    try:
        wait_until_applied(proc, client, okey, total // 4, total)
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        seconds = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == 0, out[-3000:]
    assert "SIGTERM: stopped after the micro-batch in hand" in out, out[-2000:]
    held = {k.decode(): int(v) for k, v in client.hgetall(okey).items()}
    consumed = int(out.rsplit("consumed ", 1)[1].split(" ", 1)[0])
    assert consumed == sum(held.values()) < total, (consumed, held, total)  # every consumed event applied
    assert kafka_committed(cfg, group) == held  # the shutdown commit reached the broker
    time.sleep(0.3)
    assert applied(client, okey) == consumed  # nothing consumed after the exit
    return seconds


@pytest.mark.slow
def test_sigterm_then_sigkill_then_restart_equals_clean_run(day_replay, redis_db1):
    """Graceful stop (SIGTERM at ~25 %), a crash (SIGKILL at ~60 %) and a restart to the end: the
    Redis state equals the clean run's, field for field, so nothing was lost or applied twice."""
    ws, cfg, day, prefix_a = day_replay
    prefix_b = cfg.key_prefix + "stops:"
    group = cfg.group_id + "stops"
    write_topics(ws, cfg)
    okey, total = offsets_key(group, prefix_b), len(day)
    stop_s = sigterm_mid_stream(ws, cfg, redis_db1, prefix_b, group, okey, total)
    assert stop_s < 15, f"SIGTERM took {stop_s:.1f} s"
    proc = start_job(ws, cfg, prefix_b, group)
    try:
        wait_until_applied(proc, redis_db1, okey, int(total * 0.6), total)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert applied(redis_db1, okey) < total
    restart = subprocess.run(
        stream_cmd(cfg, prefix_b, group), cwd=REPO, env=stream_env(ws, cfg), capture_output=True, text=True, timeout=120
    )
    assert restart.returncode == 0, restart.stdout[-2000:] + restart.stderr[-3000:]
    clean, stopped = user_hashes(redis_db1, prefix_a), user_hashes(redis_db1, prefix_b)
    assert len(clean) == day["user_id"].nunique()
    assert sum(int(h[b"events_total"]) for h in clean.values()) == total
    assert sum(int(h[b"events_total"]) for h in stopped.values()) == total
    diff = {
        (u, k): (clean[u].get(k), stopped.get(u, {}).get(k))
        for u in clean
        for k in clean[u]
        if clean[u].get(k) != stopped.get(u, {}).get(k)
    }
    assert not diff, list(diff.items())[:5]
    assert stopped == clean  # every field, the exact state included: nothing lost, nothing twice
