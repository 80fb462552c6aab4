"""Per-customer behavioural aggregates from click events (batch side).

Only events strictly before the observation date are used: the label window is the future.

The definition is two exact aggregations (per session, then per customer: counts, sums and maxima
of integers and of stored values) and one shared numeric finish (:func:`finish_clickstream`, the
only floating-point arithmetic). Every engine (pandas here; DuckDB and Spark SQL in
:mod:`churnguard.features.engines`) computes the same integer aggregates, so their feature tables
are equal bit for bit. The mean click gap is the sum of the within-session gaps (which telescopes
to each session's last minus first timestamp) over their count: session ids belong to one customer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY_MS = 86_400_000
CLICKSTREAM_FEATURES = [
    "sessions_30d",
    "events_30d",
    "add_to_cart_30d",
    "remove_from_cart_30d",
    "checkouts_30d",
    "cart_abandonment_rate",
    "mean_click_gap_s",
    "cancel_page_views_30d",
    "support_page_views_30d",
    "days_since_last_event",
    "max_cart_value_30d",
]
# Per-customer aggregates every engine returns (user_id is the key): integers, then the max cart value.
AGGREGATES = [
    "sessions",
    "events",
    "adds",
    "removes",
    "checkouts",
    "abandoned_sessions",
    "cart_sessions",
    "gap_ms",
    "gaps",
    "cancels",
    "supports",
    "last_ts",
    "max_cart",
]
EVENT_COLUMNS = ["user_id", "session_id", "event_type", "ts", "page", "cart_value"]


def window_bounds(observation_ms: int, window_days: int) -> tuple[int, int]:
    """[lo, hi) of the event window in epoch milliseconds."""
    return observation_ms - window_days * DAY_MS, observation_ms


def session_aggregates(events: pd.DataFrame, observation_ms: int, window_days: int) -> pd.DataFrame:
    """The per-customer :data:`AGGREGATES` of the events in the window (pandas engine); index user_id."""
    lo, hi = window_bounds(observation_ms, window_days)
    ev = events.loc[(events["ts"] >= lo) & (events["ts"] < hi), EVENT_COLUMNS]
    etype, page = ev["event_type"], ev["page"]
    flags = pd.DataFrame(
        {
            "user_id": ev["user_id"].to_numpy(),
            "session_id": ev["session_id"].to_numpy(),
            "ts": ev["ts"].to_numpy(),
            "add": (etype == "add_to_cart").to_numpy(np.int64),
            "remove": (etype == "remove_from_cart").to_numpy(np.int64),
            "checkout": (etype == "checkout").to_numpy(np.int64),
            "cancel": (page == "cancel").to_numpy(np.int64),
            "support": (page == "support").to_numpy(np.int64),
            "cart": ev["cart_value"].to_numpy(),
        }
    )
    s = flags.groupby(["user_id", "session_id"], sort=False).agg(
        n=("ts", "size"),
        t0=("ts", "min"),
        t1=("ts", "max"),
        adds=("add", "sum"),
        removes=("remove", "sum"),
        checkouts=("checkout", "sum"),
        cancels=("cancel", "sum"),
        supports=("support", "sum"),
        max_cart=("cart", "max"),
    )
    s["gap_ms"], s["gaps"] = s["t1"] - s["t0"], s["n"] - 1
    s["cart_sessions"] = (s["adds"] > 0).astype(np.int64)
    s["abandoned_sessions"] = s["cart_sessions"] * (s["checkouts"] == 0)
    g = s.groupby(level="user_id", sort=False)
    out = g[["adds", "removes", "checkouts", "abandoned_sessions", "cart_sessions", "gap_ms", "gaps"]].sum()
    out["sessions"], out["events"] = g.size(), g["n"].sum()
    out["cancels"], out["supports"] = g["cancels"].sum(), g["supports"].sum()
    out["last_ts"], out["max_cart"] = g["t1"].max(), g["max_cart"].max()
    return out[AGGREGATES]


def finish_clickstream(agg: pd.DataFrame, observation_ms: int) -> pd.DataFrame:
    """Features from the aggregates (index user_id): the one place with floating-point arithmetic."""
    if agg.empty:
        return pd.DataFrame(columns=CLICKSTREAM_FEATURES, dtype=float)
    num = {c: agg[c].to_numpy(dtype=np.float64) for c in AGGREGATES}
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(num["gaps"] > 0, num["gap_ms"] / 1000.0 / num["gaps"], np.nan)
        abandonment = np.where(num["cart_sessions"] > 0, num["abandoned_sessions"] / num["cart_sessions"], 0.0)
    out = pd.DataFrame(
        {
            "sessions_30d": num["sessions"],
            "events_30d": num["events"],
            "add_to_cart_30d": num["adds"],
            "remove_from_cart_30d": num["removes"],
            "checkouts_30d": num["checkouts"],
            "cart_abandonment_rate": abandonment,
            "mean_click_gap_s": gap,
            "cancel_page_views_30d": num["cancels"],
            "support_page_views_30d": num["supports"],
            "days_since_last_event": (observation_ms - agg["last_ts"].to_numpy(np.int64)) / DAY_MS,
            "max_cart_value_30d": num["max_cart"],
        },
        index=pd.Index(agg.index, name="user_id"),
    )
    return out[CLICKSTREAM_FEATURES]


def fill_inactive(features: pd.DataFrame, has_history: pd.Series, window_days: int) -> pd.DataFrame:
    """Customers with history but no events in the window: zero counts, last event = window.

    Customers without history (cold start) keep NaN: absence of data, not of activity.
    """
    out = features.copy()
    established = has_history.to_numpy()
    for col in CLICKSTREAM_FEATURES:
        fill = float(window_days) if col == "days_since_last_event" else 0.0
        missing = out[col].isna().to_numpy() & established
        out.loc[missing, col] = fill
    return out
