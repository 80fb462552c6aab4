"""The online features: ONE definition, used by the stream (:class:`UserState`, event by event)
and by the batch computation over the events parquet (:func:`batch_features`, vectorized).
A test replays a day of events through the broker and checks both give the same values.

All features are in *event time*, as of the user's latest event (largest ``(ts, event_id)``).
A "click" is any click-stream interaction (every event type).

| feature | definition |
| --- | --- |
| ``last_event_ms`` | ts of the latest event |
| ``session_id`` | session of the latest event (the *current session*) |
| ``time_since_last_click_s`` | latest ts - previous event's ts, seconds (NaN for a first event) |
| ``click_velocity_per_min`` | events with ts in (latest - window, latest], per minute of window |
| ``cart_value`` | cart total after the latest event |
| ``session_urgency`` | 1 if time_since_last_click_s < 5 and cart_value > 100, else 0 |
| ``cart_abandonment_risk`` | 0 if the current session checked out or the cart is empty, else (removes + 1 + 2 cancel-page views) / (adds + removes + 1 + 2 cancel-page views) of the current session |
| ``page_engagement_score`` | mean page weight over the current session's events (PAGE_WEIGHTS) |
| ``session_events`` | events in the current session |
| ``events_total`` | distinct events ever applied for the user (an idempotency witness) |

Late and out-of-order rule (per user, event time): an event is accepted when
``ts >= watermark - allowed_lateness`` where the watermark is the user's largest ts seen.
Accepted events may arrive in any order: every feature above is a function of the *set* of
accepted events, so the result equals in-order processing. An event older than that is
*late*: it is not applied and goes to the dead-letter topic with reason ``late``.
Idempotency: event ids of accepted events are kept for ``max(window, allowed_lateness)`` of
event time; an event id seen again inside that horizon is a duplicate and skipped, and one
outside it is late by the rule above. So a replay never counts an event twice.
Sessions idle for more than ``session_retention`` (event time) are forgotten: a session never
pauses that long in the synthetic world, and a real one that does starts counting afresh.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pandas as pd

from churnguard.streaming.schema import Event

URGENCY_MAX_GAP_S = 5.0  # strictly below
URGENCY_MIN_CART = 100.0  # strictly above
# Binary fractions only, so sums are exact whatever the order of arrival.
PAGE_WEIGHTS = {
    "home": 0.25,
    "product": 1.0,
    "search": 0.75,
    "cart": 1.5,
    "account": 0.5,
    "support": -0.5,
    "cancel": -2.0,
}
ONLINE_FEATURES = [
    "last_event_ms",
    "session_id",
    "time_since_last_click_s",
    "click_velocity_per_min",
    "cart_value",
    "session_urgency",
    "cart_abandonment_risk",
    "page_engagement_score",
    "session_events",
    "events_total",
]
APPLIED, DUPLICATE, LATE = 0, 1, 2


class FeatureParams:
    """Window, lateness and session retention, in seconds; the ``*_ms`` integers are precomputed."""

    __slots__ = (
        "allowed_lateness_s",
        "horizon_ms",
        "lateness_ms",
        "retention_ms",
        "session_retention_s",
        "window_ms",
        "window_s",
    )

    def __init__(self, window_s: float = 60.0, allowed_lateness_s: float = 60.0, session_retention_s: float = 1800.0):
        self.window_s = float(window_s)
        self.allowed_lateness_s = float(allowed_lateness_s)
        self.session_retention_s = float(session_retention_s)
        self.window_ms = int(round(self.window_s * 1000))
        self.lateness_ms = int(round(self.allowed_lateness_s * 1000))
        self.horizon_ms = max(self.window_ms, self.lateness_ms)
        self.retention_ms = max(int(round(self.session_retention_s * 1000)), self.horizon_ms)


# --- the formulas (scalars or numpy arrays alike) ---------------------------------------------
def session_urgency(time_since_last_click_s, cart_value):
    return (time_since_last_click_s < URGENCY_MAX_GAP_S) & (cart_value > URGENCY_MIN_CART)


def cart_abandonment_risk(adds, removes, checkouts, cancels, cart_value):
    num = removes + 1.0 + 2.0 * cancels
    den = adds + removes + 1.0 + 2.0 * cancels
    closed = (checkouts > 0) | (cart_value <= 0)
    if isinstance(closed, (bool, np.bool_)):
        return 0.0 if closed else num / den
    return np.where(closed, 0.0, num / den)


def click_velocity(count, window_s: float):
    return count * 60.0 / window_s


def page_engagement(weight_sum, n_events):
    return weight_sum / n_events


# --- stream side --------------------------------------------------------------------------------
class UserState:
    """One user's online state; :meth:`apply` takes events in any order (see the module rule)."""

    __slots__ = (
        "cart",
        "ids",
        "last_eid",
        "last_ts",
        "prev_eid",
        "prev_ts",
        "recent",
        "session",
        "sessions",
        "total",
    )

    def __init__(self) -> None:
        self.last_ts = -1
        self.last_eid = -1
        self.cart = 0.0
        self.session = -1
        self.prev_ts = -1
        self.prev_eid = -1
        self.recent: list[tuple[int, int]] = []  # (ts, event_id) within the horizon
        self.ids: set[int] = set()
        # session_id -> [events, adds, removes, checkouts, cancels, weight_sum, max_ts]
        self.sessions: dict[int, list] = {}
        self.total = 0

    def apply(self, e: Event, p: FeatureParams) -> int:
        ts, eid = e.ts, e.event_id
        if self.last_ts >= 0:
            if ts < self.last_ts - p.lateness_ms:
                return LATE
            if eid in self.ids:
                return DUPLICATE
        newest = ts > self.last_ts or (ts == self.last_ts and eid > self.last_eid)
        if newest:
            self.prev_ts, self.prev_eid = self.last_ts, self.last_eid
            self.last_ts, self.last_eid, self.cart, self.session = ts, eid, e.cart_value, e.session_id
        elif ts > self.prev_ts or (ts == self.prev_ts and eid > self.prev_eid):
            self.prev_ts, self.prev_eid = ts, eid
        self.recent.append((ts, eid))
        self.ids.add(eid)
        self.total += 1
        sid = e.session_id
        s = self.sessions.get(sid)
        if s is None:
            s = self.sessions[sid] = [0, 0, 0, 0, 0, 0.0, ts]
            if newest and len(self.sessions) > 2:
                lo_s = self.last_ts - p.retention_ms
                for old in [k for k, v in self.sessions.items() if v[6] < lo_s and k != sid]:
                    del self.sessions[old]
        s[0] += 1
        et = e.event_type
        if et == "add_to_cart":
            s[1] += 1
        elif et == "remove_from_cart":
            s[2] += 1
        elif et == "checkout":
            s[3] += 1
        page = e.page
        if page == "cancel":
            s[4] += 1
        s[5] += PAGE_WEIGHTS[page]
        if ts > s[6]:
            s[6] = ts
        if newest:
            lo = ts - p.horizon_ms
            recent = self.recent
            if recent[0][0] < lo:
                ids = self.ids
                keep = []
                for r in recent:
                    if r[0] >= lo:
                        keep.append(r)
                    else:
                        ids.discard(r[1])
                self.recent = keep
        return APPLIED

    def features(self, p: FeatureParams) -> dict[str, Any]:
        gap = (self.last_ts - self.prev_ts) / 1000.0 if self.prev_ts >= 0 else math.nan
        lo = self.last_ts - p.window_ms
        count = sum(1 for ts, _ in self.recent if ts > lo)
        n, adds, removes, checkouts, cancels, wsum, _ = self.sessions[self.session]
        return {
            "last_event_ms": self.last_ts,
            "session_id": self.session,
            "time_since_last_click_s": gap,
            "click_velocity_per_min": click_velocity(count, p.window_s),
            "cart_value": self.cart,
            "session_urgency": int(session_urgency(gap, self.cart)),
            "cart_abandonment_risk": cart_abandonment_risk(adds, removes, checkouts, cancels, self.cart),
            "page_engagement_score": page_engagement(wsum, n),
            "session_events": n,
            "events_total": self.total,
        }

    # --- persistence (the Redis field ``_state``): exact, so a restart continues the same state --
    def dumps(self) -> bytes:
        return orjson.dumps(
            [
                self.last_ts,
                self.last_eid,
                self.cart,
                self.session,
                self.prev_ts,
                self.prev_eid,
                self.total,
                self.recent,
                [[k, *v] for k, v in self.sessions.items()],
            ]
        )

    @classmethod
    def loads(cls, raw: bytes) -> UserState:
        v = orjson.loads(raw)
        s = cls()
        s.last_ts, s.last_eid, s.cart, s.session, s.prev_ts, s.prev_eid, s.total = v[:7]
        s.recent = [(a, b) for a, b in v[7]]
        s.ids = {b for _, b in s.recent}
        s.sessions = {row[0]: list(row[1:]) for row in v[8]}
        return s


def format_value(v: Any) -> str:
    """Redis string for a feature value (repr of a float round-trips exactly)."""
    if isinstance(v, float):
        return repr(v)
    return str(v)


# --- batch side ---------------------------------------------------------------------------------
def batch_features(events: pd.DataFrame, p: FeatureParams, as_of_ms: int | None = None) -> pd.DataFrame:
    """The same features for every user from an events table (index = user_id), vectorized.

    Uses events with ``ts < as_of_ms`` (all when None); duplicate event ids count once.
    Equals the stream's result when every event arrived within the allowed lateness.
    """
    ev = events if as_of_ms is None else events[events["ts"] < as_of_ms]
    ev = ev.drop_duplicates("event_id").sort_values(["user_id", "ts", "event_id"], kind="stable")
    if ev.empty:
        return pd.DataFrame(columns=ONLINE_FEATURES)
    user = ev["user_id"].to_numpy()
    ts = ev["ts"].to_numpy(np.int64)
    is_last = np.r_[user[1:] != user[:-1], True]
    is_first = np.r_[True, user[1:] != user[:-1]]
    last_rows = ev[is_last]
    users = last_rows["user_id"].to_numpy()
    codes = np.searchsorted(users, user)  # users are sorted
    prev_ts = np.where(is_first, -1, np.r_[-1, ts[:-1]])[is_last]
    last_ts = ts[is_last]
    gap = np.where(prev_ts >= 0, (last_ts - prev_ts) / 1000.0, np.nan)
    in_window = ts > (last_ts - p.window_ms)[codes]
    count = np.bincount(codes, weights=in_window, minlength=users.size)
    cur_session = last_rows["session_id"].to_numpy()[codes]
    in_sess = ev["session_id"].to_numpy() == cur_session
    etype, page = ev["event_type"].to_numpy(), ev["page"].to_numpy()

    def per_user(mask):
        return np.bincount(codes, weights=(mask & in_sess).astype(float), minlength=users.size)

    n = per_user(np.ones(len(ev), dtype=bool))
    adds, removes = per_user(etype == "add_to_cart"), per_user(etype == "remove_from_cart")
    checkouts, cancels = per_user(etype == "checkout"), per_user(page == "cancel")
    weights = pd.Series(page).map(PAGE_WEIGHTS).to_numpy(float) * in_sess
    wsum = np.bincount(codes, weights=weights, minlength=users.size)
    cart = last_rows["cart_value"].to_numpy(float)
    out = pd.DataFrame(
        {
            "last_event_ms": last_ts,
            "session_id": last_rows["session_id"].to_numpy(),
            "time_since_last_click_s": gap,
            "click_velocity_per_min": click_velocity(count, p.window_s),
            "cart_value": cart,
            "session_urgency": session_urgency(gap, cart).astype(int),
            "cart_abandonment_risk": cart_abandonment_risk(adds, removes, checkouts, cancels, cart),
            "page_engagement_score": page_engagement(wsum, n),
            "session_events": n.astype(int),
            "events_total": np.bincount(codes, minlength=users.size),
        },
        index=pd.Index(users, name="user_id"),
    )
    return out
