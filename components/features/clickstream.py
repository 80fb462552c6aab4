"""Per-customer behavioural aggregates from click events (batch side).

Only events strictly before the observation date are used: the label window is the future.
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


def aggregate_clickstream(events: pd.DataFrame, observation_ms: int, window_days: int) -> pd.DataFrame:
    """Aggregate events in [T - window, T) per user; index = user_id."""
    lo = observation_ms - window_days * DAY_MS
    ev = events[(events["ts"] >= lo) & (events["ts"] < observation_ms)]
    if ev.empty:
        return pd.DataFrame(columns=CLICKSTREAM_FEATURES, dtype=float)
    ev = ev.sort_values(["session_id", "ts"], kind="stable")
    etype = ev["event_type"]
    per_event = pd.DataFrame(
        {
            "user_id": ev["user_id"].to_numpy(),
            "session_id": ev["session_id"].to_numpy(),
            "add": (etype == "add_to_cart").to_numpy(),
            "remove": (etype == "remove_from_cart").to_numpy(),
            "checkout": (etype == "checkout").to_numpy(),
            "cancel": (ev["page"] == "cancel").to_numpy(),
            "support": (ev["page"] == "support").to_numpy(),
            "ts": ev["ts"].to_numpy(),
            "cart": ev["cart_value"].to_numpy(),
        }
    )
    gap = per_event.groupby("session_id")["ts"].diff() / 1000.0
    per_event["gap"] = gap
    sessions = per_event.groupby(["user_id", "session_id"]).agg(added=("add", "any"), checked_out=("checkout", "any"))
    abandoned = (sessions["added"] & ~sessions["checked_out"]).groupby(level=0).sum()
    with_cart = sessions["added"].groupby(level=0).sum()
    g = per_event.groupby("user_id")
    out = pd.DataFrame(
        {
            "sessions_30d": g["session_id"].nunique(),
            "events_30d": g.size(),
            "add_to_cart_30d": g["add"].sum(),
            "remove_from_cart_30d": g["remove"].sum(),
            "checkouts_30d": g["checkout"].sum(),
            "mean_click_gap_s": g["gap"].mean(),
            "cancel_page_views_30d": g["cancel"].sum(),
            "support_page_views_30d": g["support"].sum(),
            "days_since_last_event": (observation_ms - g["ts"].max()) / DAY_MS,
            "max_cart_value_30d": g["cart"].max(),
        }
    )
    out["cart_abandonment_rate"] = (abandoned / with_cart.replace(0, np.nan)).reindex(out.index).fillna(0.0)
    return out[CLICKSTREAM_FEATURES].astype(float)


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
