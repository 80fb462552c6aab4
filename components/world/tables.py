"""The drawn world as tables: observable frames and the truth from the generator's arrays, and their files.

:mod:`churnguard.world.generator` draws the arrays; this module names the columns of each table
(``data/raw``: customers, former_customers, referrals, campaign, events; ``data/truth``) and writes them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from churnguard.world.events import write_events

Arrays = dict[str, Any]  # named per-customer arrays, in signup order


@dataclass
class WorldSummary:
    customers: int
    active: int
    former: int
    cold_start: int
    referrals: int
    events: int
    churn_rate: float
    mean_true_probability: float
    fraudsters: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _signup_dates(w: Arrays, obs: pd.Timestamp) -> np.ndarray:
    return (obs - pd.to_timedelta(np.floor(w["days_ago"]), unit="D")).normalize().to_numpy()


# table column -> the generator's array, copied as it is (masked to the table's rows)
_OBSERVED_AS_DRAWN = {
    "age": "age",
    "income_band": "income",
    "region": "region",
    "signup_channel": "channel",
    "plan": "plan",
    "contract": "contract",
    "payment_method": "payment",
    "paperless_billing": "paperless",
}
_TRUTH_AS_DRAWN = {
    "active": "active",
    "cold_start": "cold",
    "p_churn": "p0",
    "offer_received": "offer",
    "p_received": "p_received",
    "latent_risk": "z",
    "engagement": "engagement",
    "neighbour_exposure": "exposure",
    "referral_onboarding": "onboarding",
    "is_fraud": "fraud",
}


def _masked(w: Arrays, columns: dict[str, str], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The ``columns`` (table column -> array name) of the customers in ``rows``, from the masked arrays."""
    return {column: w[name][rows] for column, name in columns.items()}


def _observable(w: Arrays, ids: np.ndarray, signup: np.ndarray, rows: np.ndarray) -> pd.DataFrame:
    """Observable columns of the customers in ``rows`` (a mask), built from the masked arrays only, so a
    world of 10M customers never holds an everyone-table beside its copies."""
    cold, tenure, charges = w["cold"][rows], w["tenure_months"][rows], w["monthly_charges"][rows]
    return pd.DataFrame(
        {
            "customer_id": ids[rows],
            "signup_date": signup[rows],
            "tenure_months": np.round(tenure, 2),
            **_masked(w, _OBSERVED_AS_DRAWN, rows),
            "monthly_charges": charges,
            "total_charges": np.round(charges * np.maximum(tenure, 0.03), 2),
            "support_tickets_90d": np.where(cold, 0, w["obs_tickets"][rows]).astype(np.int64),
            "usage_hours_30d": np.where(cold, np.nan, np.round(w["obs_usage"][rows], 2)),
            "churn_label": np.where(w["churned"][rows] == 1, "Yes", "No"),
        }
    )


def truth_table(w: Arrays, ids: np.ndarray) -> pd.DataFrame:
    """The truth of the active customers (evaluation only), from the masked arrays."""
    rows = w["active"]
    return pd.DataFrame(
        {
            "customer_id": ids[rows],
            **_masked(w, _TRUTH_AS_DRAWN, rows),
            **{f"effect_{k}": v[rows] for k, v in w["effects"].items()},
        }
    )


def raw_tables(w: Arrays, ids: np.ndarray, obs: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The observable tables of ``data/raw`` (all but the events), keyed by file stem."""
    signup = _signup_dates(w, obs)
    former, active, in_campaign = w["former"], w["active"], w["in_campaign"]
    formers = _observable(w, ids, signup, former).drop(columns=["churn_label", "usage_hours_30d"])
    formers["churn_date"] = (obs - pd.to_timedelta(np.floor(w["churn_days_ago"][former]), unit="D")).normalize()
    has_ref = w["referrer"] >= 0
    referrals = pd.DataFrame(
        {
            "referrer_id": ids[w["referrer"][has_ref]],
            "referee_id": ids[has_ref],
            "referral_date": signup[has_ref],
        }
    )
    campaign = pd.DataFrame({"customer_id": ids[in_campaign], "offer": w["offer"][in_campaign], "assigned_date": obs})
    return {
        "customers": _observable(w, ids, signup, active),
        "former_customers": formers,
        "referrals": referrals,
        "campaign": campaign,
    }


@dataclass
class World:
    """A drawn world: observable tables, the truth, and the click-stream as a lazy stream of chunks.

    The event chunks continue the world's random stream: consume them once, after the tables."""

    seed: int
    params: dict[str, Any]
    raw: dict[str, pd.DataFrame]
    truth: pd.DataFrame
    events: Iterator[pa.Table]
    event_chunk_count: int
    counts: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def summary(self, events: int) -> WorldSummary:
        return WorldSummary(**self.counts, events=events, seconds=round(time.perf_counter() - self.started, 2))


def write_world(world: World, raw_dir: Path, truth_dir: Path, progress: bool = False) -> WorldSummary:
    """Lay a drawn world out as files: ``raw_dir/<table>.parquet`` + events.parquet (streamed chunk by
    chunk, so any size fits in memory), ``truth_dir/customers_truth.parquet`` and ``world.json``."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    for name, table in world.raw.items():
        table.to_parquet(raw_dir / f"{name}.parquet", index=False)
    world.truth.to_parquet(truth_dir / "customers_truth.parquet", index=False)
    world.raw, world.truth = {}, pd.DataFrame()  # written: free them before the events stream (a world is written once)
    n_events = write_events(raw_dir / "events.parquet", world.events, world.event_chunk_count, progress)
    summary = world.summary(n_events)
    (truth_dir / "world.json").write_text(
        json.dumps({"seed": world.seed, "params": world.params, "summary": summary.as_dict()}, indent=2, default=str)
    )
    return summary
