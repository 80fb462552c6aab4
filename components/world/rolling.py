"""Write a moving world to disk: month 0 from :func:`generate_world`, then one folder per month.

``<out>/month_MM/raw`` has the generator's raw tables for the observation date ``T_m`` (the label
column filled only because the whole timeline is simulated at once: a consumer must use a month's
labels only from ``label_matures_on`` on, ``timeline.json``); ``<out>/month_MM/truth`` has the
month's truth (evaluation only). The mechanics are in :mod:`churnguard.world.timeline`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnguard.core.numeric import sigmoid
from churnguard.world import generator as gen
from churnguard.world import timeline as tl


def _snapshot(slots, beh, cold, p0, arms, p_received, obs, month, scenario) -> dict[str, pd.DataFrame]:
    tenure = slots["tenure_months"].to_numpy(float)
    customers = slots[["customer_id"]].copy()
    customers["signup_date"] = (obs - pd.to_timedelta(np.floor(tenure * 30.44), unit="D")).normalize()
    customers["tenure_months"] = tenure
    for col in tl.STATIC:
        customers[col] = slots[col].to_numpy()
    customers["paperless_billing"] = customers["paperless_billing"].astype(bool)
    customers["total_charges"] = np.round(slots["monthly_charges"].to_numpy(float) * np.maximum(tenure, 0.03), 2)
    customers["support_tickets_90d"] = beh["obs_tickets"].astype(np.int64)
    customers["usage_hours_30d"] = beh["obs_usage"]
    in_campaign = np.array([a is not None for a in arms])
    affected = tl.affected_segment(slots, scenario) & (tl.concept_term(slots, month, scenario) != 0)
    truth = pd.DataFrame(
        {
            "customer_id": slots["customer_id"].to_numpy(),
            "active": True,
            "cold_start": cold,
            "p_churn": p0,
            "offer_received": np.where(in_campaign, arms, "none"),
            "p_received": p_received,
            "latent_risk": slots["z"].to_numpy(),
            "engagement": beh["engagement"],
            "is_fraud": slots["fraud"].to_numpy(bool),
            "concept_affected": affected,
            "new_channel": slots["new_channel"].to_numpy(bool),
        }
    )
    campaign = pd.DataFrame(
        {
            "customer_id": customers["customer_id"][in_campaign].to_numpy(),
            "offer": arms[in_campaign],
            "assigned_date": obs,
        }
    )
    return {"customers": customers, "truth": truth, "campaign": campaign}


def _referrals(refs0: pd.DataFrame, slot_of: dict[str, int], slots: pd.DataFrame) -> pd.DataFrame:
    """Month-0 edges, each slot endpoint mapped to its current occupant (new-channel customers: none)."""
    ids, new = slots["customer_id"].to_numpy(), slots["new_channel"].to_numpy(bool)

    def current(col: str) -> tuple[np.ndarray, np.ndarray]:
        slot = refs0[col].map(slot_of)
        is_slot = slot.notna().to_numpy()
        s = slot.fillna(0).astype(int).to_numpy()
        return np.where(is_slot, ids[s], refs0[col].to_numpy()), is_slot & new[s]

    referrer, drop_a = current("referrer_id")
    referee, drop_b = current("referee_id")
    keep = ~(drop_a | drop_b)
    return pd.DataFrame(
        {
            "referrer_id": referrer[keep],
            "referee_id": referee[keep],
            "referral_date": refs0["referral_date"].to_numpy()[keep],
        }
    )


def _write_month(out: Path, month: int, snap: dict, refs: pd.DataFrame, formers: pd.DataFrame) -> None:
    raw, truth = tl.month_dir(out, month) / "raw", tl.month_dir(out, month) / "truth"
    raw.mkdir(parents=True, exist_ok=True)
    truth.mkdir(parents=True, exist_ok=True)
    refs.to_parquet(raw / "referrals.parquet", index=False)
    formers.to_parquet(raw / "former_customers.parquet", index=False)
    snap["campaign"].to_parquet(raw / "campaign.parquet", index=False)
    snap["truth"].to_parquet(truth / "customers_truth.parquet", index=False)


def _leave(slots, month, obs_prev, rng) -> tuple[np.ndarray, pd.DataFrame]:
    leave = slots["churn_month"].to_numpy() == month
    ids = slots["customer_id"].to_numpy()[leave]
    days = np.floor(rng.uniform(0, tl.MONTH_DAYS, ids.size))
    gone = pd.DataFrame({"customer_id": ids, "churn_date": (obs_prev + pd.to_timedelta(days, unit="D")).normalize()})
    return leave, gone


def _draw_churn(rng, slots, month, p_received, churn_of) -> None:
    """Decide churn in month ``month + 1`` for customers decided only up to ``month``."""
    due = slots["decided_until"].to_numpy() == month
    h = 1.0 - np.sqrt(np.clip(1.0 - p_received, 0, 1))
    churn = due & (rng.random(len(slots)) < h)
    slots.loc[churn, "churn_month"] = month + 1
    slots.loc[due, "decided_until"] = month + 1
    churn_of.update(dict(zip(slots["customer_id"].to_numpy()[churn], [month + 1] * int(churn.sum()))))


def generate_timeline(
    world_cfg: dict[str, Any], seed: int, timeline_cfg: tl.TimelineConfig, scenario_name: str, months: int, out: Path
) -> dict[str, Any]:
    """Month 0 = ``generate_world(world_cfg, seed)``; then ``months`` monthly steps. Returns timeline.json."""
    out = Path(out)
    scenario = tl.scenario_events(scenario_name, timeline_cfg)
    m0 = tl.month_dir(out, 0)
    gen.generate_world(world_cfg, seed, m0 / "raw", m0 / "truth", progress=False)
    rng = np.random.default_rng(seed + tl.STREAM_OFFSET)
    slots = tl.load_month0(m0 / "raw", m0 / "truth")
    slots["new_channel"] = False
    tl.first_churn_months(rng, slots)
    churn_of = dict(zip(slots["customer_id"], slots["churn_month"]))
    slot_of = {cid: i for i, cid in enumerate(slots["customer_id"])}
    tenure_pool = slots["tenure_months"].to_numpy()[slots["tenure_months"].to_numpy() >= 14 / 30.44]
    refs0 = pd.read_parquet(m0 / "raw" / "referrals.parquet")
    formers = pd.read_parquet(m0 / "raw" / "former_customers.parquet", columns=["customer_id", "churn_date"])
    t0 = pd.Timestamp(world_cfg["observation_date"])
    frames = {0: pd.read_parquet(m0 / "raw" / "customers.parquet").drop(columns=["churn_label"])}
    next_id = int(world_cfg["customers"])
    for m in range(1, months + 2):  # one extra step decides the last exported month's labels
        obs = t0 + pd.Timedelta(days=tl.MONTH_DAYS * m)
        leave, gone = _leave(slots, m, obs - pd.Timedelta(days=tl.MONTH_DAYS), rng)
        formers = pd.concat([formers, gone], ignore_index=True)
        slots.loc[~leave, "tenure_months"] = np.round(slots.loc[~leave, "tenure_months"] + tl.MONTH_DAYS / 30.44, 2)
        next_id = tl.refill(rng, slots, leave, m, next_id, tenure_pool, timeline_cfg, scenario)
        cold = slots["tenure_months"].to_numpy(float) < 14 / 30.44
        beh = tl.behaviour(rng, slots, cold, timeline_cfg.engagement_persistence)
        p0 = tl.true_probability(slots, beh, cold, world_cfg, tl.concept_term(slots, m, scenario))
        arms, p_received = tl.campaign(rng, slots, beh, cold, p0, world_cfg)
        _draw_churn(rng, slots, m, p_received, churn_of)
        if m > months:
            break
        snap = _snapshot(slots, beh, cold, p0, arms, p_received, obs, m, scenario)
        frames[m] = snap["customers"]
        _write_month(out, m, snap, _referrals(refs0, slot_of, slots), formers)
        _write_events(rng, slots, beh, cold, obs, world_cfg, tl.month_dir(out, m) / "raw" / "events.parquet")
    return _write_labels_and_index(out, frames, churn_of, t0, months, scenario_name, scenario, seed)


def _write_events(rng, slots, beh, cold, obs, world_cfg, path: Path) -> None:
    z, fraud = slots["z"].to_numpy(float), slots["fraud"].to_numpy(bool)
    abandon = sigmoid(-1.0 + 0.9 * z + np.where(fraud, 2.5, 0.0))
    cancel = sigmoid(-3.0 + 1.0 * z + np.where(fraud, 3.0, 0.0))
    obs_ms = int(obs.value // 1_000_000)
    gen._write_events(
        rng,
        path,
        slots["customer_id"].to_numpy().astype(str),
        ~cold,
        beh["obs_engagement"],
        abandon,
        cancel,
        obs_ms,
        world_cfg["events"],
        progress=False,
    )


def _write_labels_and_index(out, frames, churn_of, t0, months, name, scenario, seed) -> dict[str, Any]:
    index = {
        "scenario": name,
        "seed": seed,
        "month_days": tl.MONTH_DAYS,
        "label_months": tl.LABEL_MONTHS,
        "events": {
            k: {**asdict(v), "start_date": str((t0 + pd.Timedelta(days=tl.MONTH_DAYS * v.start)).date())}
            for k, v in scenario.items()
        },
        "months": [],
    }
    for m, customers in frames.items():
        churned = customers["customer_id"].map(churn_of).fillna(-1).to_numpy()
        label = np.isin(churned, [m + 1, m + 2])
        if m > 0:  # month 0 keeps the generator's own file, bit for bit
            customers.assign(churn_label=np.where(label, "Yes", "No")).to_parquet(
                tl.month_dir(out, m) / "raw" / "customers.parquet", index=False
            )
        obs = t0 + pd.Timedelta(days=tl.MONTH_DAYS * m)
        index["months"].append(
            {
                "month": m,
                "observation_date": str(obs.date()),
                "active": len(customers),
                "label_matures_on": str((obs + pd.Timedelta(days=tl.MONTH_DAYS * tl.LABEL_MONTHS)).date()),
                "churn_rate": round(float(label.mean()), 4),
            }
        )
    (Path(out) / "timeline.json").write_text(json.dumps(index, indent=2, default=str))
    return index
