"""Pure logic of the online features and the event schema (no services)."""

from __future__ import annotations

import math
import random
import re

import numpy as np
import orjson
import pandas as pd
import pytest

from churnguard.streaming.features import (
    APPLIED,
    DUPLICATE,
    LATE,
    ONLINE_FEATURES,
    FeatureParams,
    UserState,
    batch_features,
)
from churnguard.streaming.schema import Event, InvalidEvent, decode, encode

P = FeatureParams(window_s=60, allowed_lateness_s=60, session_retention_s=1800)
TS = 1_782_777_600_000  # 2026-06-30, inside the schema's ts bounds


def ev(eid, ts, cart=0.0, etype="click", page="product", user="U1", session=1):
    return Event(eid, user, session, etype, ts, page, cart)


def run(events, p=P):
    s = UserState()
    outcomes = [s.apply(e, p) for e in events]
    return s.features(p), outcomes


@pytest.mark.parametrize(
    "gap_ms, cart, urgent",
    [(4999, 100.01, 1), (5000, 100.01, 0), (4999, 100.0, 0), (5000, 100.0, 0), (1, 1000.0, 1), (5001, 500.0, 0)],
)
def test_urgency_boundaries_stream_and_batch(gap_ms, cart, urgent):
    events = [ev(1, 1_000_000, 40.0, "add_to_cart"), ev(2, 1_000_000 + gap_ms, cart, "add_to_cart")]
    feats, _ = run(events)
    assert feats["session_urgency"] == urgent
    assert feats["time_since_last_click_s"] == gap_ms / 1000.0
    batch = batch_features(pd.DataFrame(events, columns=Event._fields), P).loc["U1"]
    assert int(batch["session_urgency"]) == urgent


def test_first_event_has_no_gap_and_is_not_urgent():
    feats, _ = run([ev(1, 5_000, 500.0)])
    assert math.isnan(feats["time_since_last_click_s"]) and feats["session_urgency"] == 0


def test_velocity_window_abandonment_and_engagement():
    events = [
        ev(1, 0, 0.0, "page_view", "home"),
        ev(2, 10_000, 50.0, "add_to_cart"),
        ev(3, 30_000, 80.0, "add_to_cart"),
        ev(4, 61_000, 30.0, "remove_from_cart", "cancel"),
        ev(5, 70_000, 30.0, "click", "support"),
    ]
    feats, _ = run(events)
    # window (10 s, 70 s]: events at 30, 61, 70 s -> 3 per minute; the one at exactly 10 s is out
    assert feats["click_velocity_per_min"] == 3.0
    # 2 adds, 1 remove, 1 cancel view, no checkout: (1 + 1 + 2) / (2 + 1 + 1 + 2)
    assert feats["cart_abandonment_risk"] == pytest.approx(4 / 6)
    assert feats["page_engagement_score"] == (0.25 + 1 + 1 - 2 - 0.5) / 5
    checkout = run([*events, ev(6, 71_000, 30.0, "checkout", "cart")])[0]
    assert checkout["cart_abandonment_risk"] == 0.0


def test_out_of_order_within_lateness_equals_in_order_and_late_is_rejected():
    rng = random.Random(7)
    events = [
        ev(
            i,
            1_000 * i + rng.randint(0, 900),
            round(rng.uniform(0, 300), 2),
            rng.choice(["click", "add_to_cart", "page_view", "remove_from_cart"]),
            rng.choice(["home", "product", "cancel", "support"]),
            session=1 + i // 20,
        )
        for i in range(60)
    ]
    in_order, _ = run(events)
    shuffled = events[:]
    # local shuffles of at most 10 positions (~10 s of event time) stay inside 60 s lateness
    for i in range(0, len(shuffled), 10):
        block = shuffled[i : i + 10]
        rng.shuffle(block)
        shuffled[i : i + 10] = block
    ooo, outcomes = run(shuffled)
    assert set(outcomes) == {APPLIED}
    assert ooo == in_order
    # later than the allowed lateness: rejected as late, features unchanged
    s = UserState()
    for e in events:
        s.apply(e, P)
    too_late = ev(999, events[-1].ts - 60_001, 999.0)
    assert s.apply(too_late, P) == LATE
    edge = ev(998, events[-1].ts - 60_000, 1.0)
    assert s.apply(edge, P) == APPLIED  # exactly at the allowance is accepted


def test_replayed_event_ids_never_count_twice():
    events = [ev(i, 1_000 * i, 10.0) for i in range(200)]
    s = UserState()
    for e in events:
        s.apply(e, P)
    once = s.features(P)
    outcomes = [s.apply(e, P) for e in events]
    assert set(outcomes) <= {DUPLICATE, LATE} and outcomes.count(DUPLICATE) > 0
    assert s.features(P) == once and once["events_total"] == 200


def test_state_round_trips_exactly():
    events = [ev(i, 700 * i, float(i), session=i // 7) for i in range(50)]
    s = UserState()
    for e in events[:30]:
        s.apply(e, P)
    t = UserState.loads(s.dumps())
    for e in events[30:]:
        s.apply(e, P)
        t.apply(e, P)
    assert s.dumps() == t.dumps() and s.features(P) == t.features(P)


def test_batch_matches_stream_on_random_users():
    rng = np.random.default_rng(3)
    rows = []
    eid = 0
    for u in range(40):
        ts = 1_000_000
        for sess in range(rng.integers(1, 4)):
            ts += int(rng.integers(100_000, 4_000_000))
            for _ in range(rng.integers(1, 12)):
                ts += int(rng.exponential(6000))
                rows.append(
                    Event(
                        eid,
                        f"U{u}",
                        u * 10 + sess,
                        str(rng.choice(["click", "add_to_cart", "checkout", "remove_from_cart", "page_view"])),
                        ts,
                        str(rng.choice(["home", "cart", "cancel", "product"])),
                        float(round(rng.uniform(0, 250), 2)),
                    )
                )
                eid += 1
    df = pd.DataFrame(rows, columns=Event._fields)
    batch = batch_features(df, P)
    states: dict[str, UserState] = {}
    for e in df.sort_values(["ts", "event_id"]).itertuples(index=False):
        states.setdefault(e.user_id, UserState()).apply(Event(*e), P)
    for u, s in states.items():
        got, want = s.features(P), batch.loc[u]
        for k in ONLINE_FEATURES:
            assert (math.isnan(got[k]) and math.isnan(want[k])) or got[k] == pytest.approx(want[k], abs=1e-12), (u, k)


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"{not json", "not valid JSON"),
        (None, "empty message"),
        (b"[1, 2]", "must be a JSON object"),
        (orjson.dumps({"v": 2}), "unsupported schema version 2"),
        (
            orjson.dumps(
                {
                    "v": 1,
                    "event_id": 1,
                    "session_id": 1,
                    "event_type": "click",
                    "ts": TS,
                    "page": "home",
                    "cart_value": 1.0,
                }
            ),
            "missing field 'user_id'",
        ),
        (
            orjson.dumps(
                {
                    "v": 1,
                    "event_id": 1,
                    "user_id": "U",
                    "session_id": 1,
                    "event_type": "teleport",
                    "ts": TS,
                    "page": "home",
                    "cart_value": 1.0,
                }
            ),
            "field 'event_type' must be one of",
        ),
        (
            orjson.dumps(
                {
                    "v": 1,
                    "event_id": 1,
                    "user_id": "U",
                    "session_id": 1,
                    "event_type": "click",
                    "ts": "5",
                    "page": "home",
                    "cart_value": 1.0,
                }
            ),
            "field 'ts' must be an integer",
        ),
        (
            orjson.dumps(
                {
                    "v": 1,
                    "event_id": 1,
                    "user_id": "U",
                    "session_id": 1,
                    "event_type": "click",
                    "ts": TS,
                    "page": "home",
                    "cart_value": -3.0,
                }
            ),
            "field 'cart_value' must be a finite number in [0, 1e12)",
        ),
    ],
)
def test_schema_rejects_with_reason(raw, reason):
    with pytest.raises(InvalidEvent, match=re.escape(reason)):
        decode(raw)


def test_schema_round_trip_and_integer_cart():
    e = decode(encode(5, "C1", 2, "checkout", TS, "cart", 99.5))
    assert e == Event(5, "C1", 2, "checkout", TS, "cart", 99.5)
    raw = orjson.dumps(
        {
            "v": 1,
            "event_id": 1,
            "user_id": "U",
            "session_id": 1,
            "event_type": "click",
            "ts": TS,
            "page": "home",
            "cart_value": 120,
        }
    )
    assert decode(raw).cart_value == 120.0
