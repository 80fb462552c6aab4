"""Hostile input against the real broker (Tansu) and real Redis (db 1): nothing stops the job,
nothing good is lost, every bad event is dead-lettered with a bounded letter and its reason,
and no user id reaches the job's own keys (issue #14, streaming half)."""

from __future__ import annotations

import hashlib
import time

import orjson
import pytest

from churnguard.core.online_store import job_space, offsets_key, parked_key, user_key
from churnguard.streaming.clients import make_producer
from churnguard.streaming.job import FeatureJob
from churnguard.streaming.schema import encode
from tests.streaming.conftest import read_topic
from tests.streaming.hostile_corpus import hostile_cases

LETTER_MAX_BYTES = 4096  # a dead letter, whatever came in: size + sha256 + a 256-byte preview


def publish_tracked(cfg, items) -> list[tuple[int, int]]:
    """Publish (key, value) pairs in order; return each one's (partition, offset)."""
    p = make_producer(cfg.with_(client="confluent"), **{"message.max.bytes": 10_000_000})
    where: list = [None] * len(items)
    for i, (key, value) in enumerate(items):

        def done(err, msg, i=i):
            where[i] = (msg.partition(), msg.offset()) if err is None else err

        p.produce(cfg.events_topic, value, key, on_delivery=done)
    assert p.flush(60) == 0
    assert all(isinstance(w, tuple) for w in where), [w for w in where if not isinstance(w, tuple)][:3]
    return where


def run_job(cfg, **kw) -> FeatureJob:
    job = FeatureJob(cfg, **kw)
    job.run(until_caught_up=True, timeout_s=90)
    return job


def good_events(now_ms: int, users: int = 8, per_user: int = 10) -> list[dict]:
    out, eid = [], 1
    for k in range(per_user):
        for u in range(users):
            out.append(
                {
                    "v": 1,
                    "event_id": eid,
                    "user_id": f"G{u:02d}",
                    "session_id": 1 + k // 6,
                    "event_type": ("click", "add_to_cart", "page_view", "remove_from_cart")[(k + u) % 4],
                    "ts": now_ms - 1_800_000 + k * 2_000 + u * 7,
                    "page": ("product", "cart", "home")[k % 3],
                    "cart_value": float(10 * ((k * 3 + u) % 17)),
                }
            )
            eid += 1
    return out


def as_messages(events: list[dict]) -> list[tuple[bytes, bytes]]:
    return [(e["user_id"].encode(), orjson.dumps(e)) for e in events]


def user_hashes(client, prefix: str) -> dict:
    return {k.decode()[len(prefix) :]: client.hgetall(k) for k in client.scan_iter(f"{prefix}*", count=1000)}


def test_hostile_corpus_mixed_with_good_events_nothing_lost(stream_cfg, redis_db1, broker):
    now_ms = int(time.time() * 1000)
    good = good_events(now_ms)
    mixed_cfg = stream_cfg(partitions=2, max_event_age_s=7 * 86400)
    clean_cfg = stream_cfg(partitions=2, max_event_age_s=7 * 86400)
    first = good[0]
    cases = hostile_cases(now_ms, mixed_cfg.group_id, first, first["ts"])
    assert len(cases) >= 60
    half = len(good) // 2
    items = as_messages(good[:half]) + [(c.key, c.value) for c in cases] + as_messages(good[half:]) + as_messages(good)
    where = publish_tracked(mixed_cfg, items)
    case_at = {where[half + i]: c for i, c in enumerate(cases)}
    publish_tracked(clean_cfg, as_messages(good))

    mixed = run_job(mixed_cfg)  # one job run over everything: it must come back, not crash
    run_job(clean_cfg)

    # every good event applied exactly once: Redis equals a clean run of only the good events
    got, want = user_hashes(redis_db1, mixed_cfg.key_prefix), user_hashes(redis_db1, clean_cfg.key_prefix)
    assert set(got) == {e["user_id"] for e in good}  # no hostile id got a key
    assert got == want
    assert sum(int(h[b"events_total"]) for h in got.values()) == len(good)

    letters = [orjson.loads(m.value()) for m in read_topic(broker.bootstrap, mixed_cfg.dead_letter_topic)]
    sizes = [len(m) for m in map(orjson.dumps, letters)]
    by_place = {(x["partition"], x["offset"]): x for x in letters}
    outcomes: dict[str, int] = {}
    for place, case in case_at.items():
        letter = by_place.get(place)
        if case.kind == "duplicate":
            assert letter is None, case.name
        else:
            assert letter is not None, f"no dead letter for {case.name}"
            assert letter["kind"] == case.kind and case.reason in letter["reason"], (case.name, letter["reason"])
            assert len(letter["reason"]) <= 300, case.name
        outcomes[case.kind] = outcomes.get(case.kind, 0) + 1
    assert len(letters) == len(cases) - outcomes["duplicate"]  # and nothing else was dead-lettered
    assert max(sizes) <= LETTER_MAX_BYTES
    for x in letters:
        if x["kind"] == "invalid":
            raw = case_at[(x["partition"], x["offset"])].value or b""
            assert x["size"] == len(raw) and x["sha256"] == hashlib.sha256(raw).hexdigest()
            assert len(x["preview"].encode()) <= 4 * 256 and x["truncated"] == (len(raw) > 256)
    m = mixed.metrics
    assert m.value("churnguard_stream_events_total", outcome="duplicate") == len(good) + 1
    for kind in ("invalid", "future", "too_old", "late"):
        assert m.value("churnguard_stream_dead_letters_total", reason=kind) == outcomes[kind], kind
    assert m.value("churnguard_stream_produce_errors_total", topic="dead_letter") == 0
    # job state untouched by ids like offsets:<group>: no TTL, only topic:partition fields
    okey = offsets_key(mixed_cfg.group_id, mixed_cfg.key_prefix)
    assert redis_db1.ttl(okey) == -1
    assert {f.decode() for f in redis_db1.hkeys(okey)} == {f"{mixed_cfg.events_topic}:0", f"{mixed_cfg.events_topic}:1"}
    dead = len(cases) - outcomes["duplicate"]
    print(
        f"\nhostile events: {len(cases)} cases, {dead} dead-lettered with reason "
        f"({', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))}), 0 crashes; largest dead letter "
        f"{max(sizes)} bytes; {len(good)} good events applied exactly once"
    )


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_poison_pill_dead_letter_too_large_is_retried_minimal(stream_cfg, redis_db1, broker, client):
    """The tester's pill: a dead-letter copy over the producer's 1 MB limit. With a huge preview
    configured the first produce of the letter fails (MSG_SIZE_TOO_LARGE); it is counted, retried
    without the preview, and the good events after it are applied."""
    cfg = stream_cfg(client=client, partitions=1, dead_letter_preview_bytes=2_000_000)
    t = 1_782_777_600_000
    pills = [orjson.dumps({"v": 1, "pad": "x" * 5_000_000}), orjson.dumps({"v": 1, "pad": "\x01" * 200_000})]
    items = (
        [(b"U1", encode(1, "U1", 1, "click", t, "home", 1.0))]
        + [(b"U1", p) for p in pills]
        + [(b"U1", encode(i, "U1", 1, "click", t + i, "home", 1.0)) for i in (2, 3)]
    )
    publish_tracked(cfg, items)
    job = run_job(cfg)
    assert redis_db1.hget(user_key("U1", cfg.key_prefix), "events_total") == b"3"
    assert redis_db1.hget(offsets_key(cfg.group_id, cfg.key_prefix), f"{cfg.events_topic}:0") == b"5"
    letters = [orjson.loads(m.value()) for m in read_topic(broker.bootstrap, cfg.dead_letter_topic, expected=2)]
    assert sorted(x["size"] for x in letters) == sorted(map(len, pills))
    assert all("preview" not in x and x["sha256"] for x in letters)  # the minimal retry
    assert job.metrics.value("churnguard_stream_produce_errors_total", topic="dead_letter") == 2
    assert job.metrics.value("churnguard_stream_dead_letters_parked_total") == 0


def test_dead_letters_kafka_refuses_are_parked_in_redis_and_the_job_goes_on(stream_cfg, redis_db1):
    cfg = stream_cfg(partitions=1).with_(dead_letter_topic="not a valid topic!")
    t = 1_782_777_600_000
    items = [
        (b"U1", b"{bad"),
        (b"U1", encode(1, "U1", 1, "click", t, "home", 1.0)),
        (None, b"\xff"),
        (b"U1", encode(2, "U1", 1, "click", t + 1, "home", 1.0)),
    ]
    publish_tracked(cfg, items)
    job = run_job(cfg)
    assert redis_db1.hget(user_key("U1", cfg.key_prefix), "events_total") == b"2"
    parked = [orjson.loads(x) for x in redis_db1.lrange(parked_key(cfg.group_id, cfg.key_prefix), 0, -1)]
    assert sorted(p["letter"]["offset"] for p in parked) == [0, 2]
    assert all(p["letter"]["reason"].startswith("not valid JSON") and p["error"] for p in parked)
    m = job.metrics
    assert m.value("churnguard_stream_dead_letters_parked_total") == 2
    assert m.value("churnguard_stream_produce_errors_total", topic="dead_letter") == 4  # first try + retry


def test_one_bad_timestamp_never_silences_the_users_later_events(stream_cfg, redis_db1, broker):
    cfg = stream_cfg(partitions=1, max_event_age_s=7 * 86400, max_future_skew_s=60)
    now = int(time.time() * 1000)
    bad = [(9, 253_402_300_799_000), (10, 2**63 - 1), (11, now + 3_600_000), (12, 1), (13, now - 8 * 86_400_000)]
    items = [(b"U1", encode(1, "U1", 1, "click", now - 10_000, "home", 1.0))]
    items += [(b"U1", encode(eid, "U1", 1, "click", ts, "home", 1.0)) for eid, ts in bad]
    items += [
        (b"U1", encode(2, "U1", 1, "add_to_cart", now - 5_000, "cart", 50.0)),
        (b"U1", encode(3, "U1", 1, "add_to_cart", now - 1_000, "cart", 150.0)),
    ]
    publish_tracked(cfg, items)
    job = run_job(cfg)
    h = redis_db1.hgetall(user_key("U1", cfg.key_prefix))
    assert h[b"events_total"] == b"3" and int(h[b"last_event_ms"]) == now - 1_000 and h[b"session_urgency"] == b"1"
    letters = [orjson.loads(m.value()) for m in read_topic(broker.bootstrap, cfg.dead_letter_topic, expected=5)]
    assert sorted(x["kind"] for x in letters) == ["future", "invalid", "invalid", "invalid", "too_old"]
    assert job.metrics.value("churnguard_stream_events_total", outcome="late") == 0


def test_job_keys_are_out_of_reach_of_any_user_id():
    group, prefix = "churnguard-features", "cg:user:"
    hostile = [
        f"offsets:{group}",
        f".job:offsets:{group}",
        "",
        ":",
        "{x}",
        "a\r\nb",
        "x" * 100_000,
        "\x00",
        f"../user.job:offsets:{group}",
    ]
    space = job_space(prefix)
    assert offsets_key(group, prefix).startswith(space) and parked_key(group, prefix).startswith(space)
    for uid in hostile:
        assert not user_key(uid, prefix).startswith(space), uid
    with pytest.raises(ValueError, match="must end with ':'"):
        job_space("cg_user_")
