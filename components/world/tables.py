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


def _everyone(w: Arrays, ids: np.ndarray, obs: pd.Timestamp) -> pd.DataFrame:
    """Every customer ever (active and former), observable columns only."""
    cold, tenure = w["cold"], w["tenure_months"]
    return pd.DataFrame(
        {
            "customer_id": ids,
            "signup_date": (obs - pd.to_timedelta(np.floor(w["days_ago"]), unit="D")).normalize(),
            "tenure_months": np.round(tenure, 2),
            "age": w["age"],
            "income_band": w["income"],
            "region": w["region"],
            "signup_channel": w["channel"],
            "plan": w["plan"],
            "contract": w["contract"],
            "payment_method": w["payment"],
            "paperless_billing": w["paperless"],
            "monthly_charges": w["monthly_charges"],
            "total_charges": np.round(w["monthly_charges"] * np.maximum(tenure, 0.03), 2),
            "support_tickets_90d": np.where(cold, 0, w["obs_tickets"]).astype(np.int64),
            "usage_hours_30d": np.where(cold, np.nan, np.round(w["obs_usage"], 2)),
            "churn_label": np.where(w["churned"] == 1, "Yes", "No"),
        }
    )


def truth_table(w: Arrays, ids: np.ndarray) -> pd.DataFrame:
    truth = pd.DataFrame(
        {
            "customer_id": ids,
            "active": w["active"],
            "cold_start": w["cold"],
            "p_churn": w["p0"],
            "offer_received": w["offer"],
            "p_received": w["p_received"],
            "latent_risk": w["z"],
            "engagement": w["engagement"],
            "neighbour_exposure": w["exposure"],
            "referral_onboarding": w["onboarding"],
            "is_fraud": w["fraud"],
            **{f"effect_{k}": v for k, v in w["effects"].items()},
        }
    )
    return truth[w["active"]].reset_index(drop=True)


def raw_tables(w: Arrays, ids: np.ndarray, obs: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The observable tables of ``data/raw`` (all but the events), keyed by file stem."""
    everyone = _everyone(w, ids, obs)
    former, active, in_campaign = w["former"], w["active"], w["in_campaign"]
    formers = everyone[former].drop(columns=["churn_label", "usage_hours_30d"]).copy()
    formers["churn_date"] = (obs - pd.to_timedelta(np.floor(w["churn_days_ago"][former]), unit="D")).normalize()
    has_ref = w["referrer"] >= 0
    referrals = pd.DataFrame(
        {
            "referrer_id": ids[w["referrer"][has_ref]],
            "referee_id": ids[has_ref],
            "referral_date": everyone["signup_date"].to_numpy()[has_ref],
        }
    )
    campaign = pd.DataFrame({"customer_id": ids[in_campaign], "offer": w["offer"][in_campaign], "assigned_date": obs})
    return {
        "customers": everyone[active].reset_index(drop=True),
        "former_customers": formers.reset_index(drop=True),
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
    n_events = write_events(raw_dir / "events.parquet", world.events, world.event_chunk_count, progress)
    summary = world.summary(n_events)
    (truth_dir / "world.json").write_text(
        json.dumps({"seed": world.seed, "params": world.params, "summary": summary.as_dict()}, indent=2, default=str)
    )
    return summary
