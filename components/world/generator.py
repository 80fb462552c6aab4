"""The synthetic churn world: customers, referrals, click-stream, a randomized campaign, fraud.

The generator knows the truth: every active customer's true churn probability at the
observation date T (with and without each retention offer), who is a fraudster, and how
churn spreads over referrals. Observable tables go to ``data/raw``; the truth goes to
``data/truth`` which no model stage may read (only evaluation).

Mechanisms (documented in docs/synthetic_world.md, motivated by published churn studies):
- a latent churn risk ``z`` per customer, correlated between referrer and referee
  (homophily, ``referral_homophily``) — so the graph carries information about new customers;
- contagion (social influence over referral ties, ``contagion_strength``; 0 switches all of it
  off): a customer whose referral neighbours churned *before* T has a higher hazard, and a
  customer early in life is kept by an engaged (active) referrer, an effect that fades with
  tenure (``referral_onboarding``, ``onboarding_months``);
- observable drivers (contract, tenure, charges, tickets, engagement, payment method) act
  on the logit directly, so behaviour is a cause, not only a symptom;
- fraudsters fake churn signals (tickets, low usage, cart abandonment, cancel-page visits)
  while their true churn probability is low and no offer changes it;
- offers reduce churn probability multiplicatively with heterogeneous effects
  (price-sensitive customers respond to discounts, month-to-month ones to contract upgrades,
  unhappy ones to a retention call...).
Labels come from a time split: features use only history before T; the label is a draw
from the true probability for the window (T, T + label_window_days].

:func:`draw_world` is pure: it returns the tables and a lazy stream of event chunks (one random
stream, drawn in a fixed order, so a seed gives the same world bit for bit); :func:`write_world`
lays them out as files (the ingest stage and ``churnguard generate``); :func:`generate_world` is both.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnguard.core.numeric import sigmoid
from churnguard.core.vocabulary import ARMS, OFFERS
from churnguard.world.config import world_config
from churnguard.world.events import EVENT_SCHEMA, EVENT_TYPES, PAGES, chunk_count, event_chunks, write_events
from churnguard.world.tables import Arrays, World, WorldSummary, raw_tables, truth_table, write_world

REGIONS = np.array(["north", "south", "east", "west", "central"])
INCOME = np.array(["low", "mid", "high"])
CHANNELS = np.array(["web", "store", "partner", "referral"])
PLANS = np.array(["basic", "standard", "premium"])
CONTRACTS = np.array(["month_to_month", "one_year", "two_year"])
PAYMENTS = np.array(["card", "bank_transfer", "electronic_check", "mailed_check"])
DAY_MS = 86_400_000


def _customer_ids(n: int) -> np.ndarray:
    return np.char.add("C", np.char.zfill(np.arange(n).astype(str), 7))


def _referrals(rng: np.random.Generator, n: int, cfg: dict[str, Any], region: np.ndarray):
    """Who referred whom (referrer always signed up earlier), homophilous latent risk z."""
    referred = rng.random(n) < cfg["referral_share"]
    referred[0] = False
    referrer = np.full(n, -1, dtype=np.int64)
    idx = np.nonzero(referred)[0]
    referrer[idx] = (rng.random(idx.size) * idx).astype(np.int64)
    eps = rng.standard_normal(n)
    same_region = rng.random(n) < cfg["same_region_referral"]
    h = float(cfg["referral_homophily"])
    z = eps.copy()
    # Sequential by construction: a referee's risk depends on its (earlier) referrer's.
    z_list, ref_list, reg_list = z.tolist(), referrer.tolist(), region.tolist()
    scale = float(np.sqrt(1.0 - h * h))
    for i in idx.tolist():
        j = ref_list[i]
        z_list[i] = h * z_list[j] + scale * z_list[i]
        if same_region[i]:
            reg_list[i] = reg_list[j]
    return referrer, np.asarray(z_list), np.asarray(reg_list, dtype=region.dtype)


def _neighbour_exposure(referrer: np.ndarray, former: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Share of each customer's referral neighbours (referrer + referees) who churned before T."""
    n = referrer.size
    has = referrer >= 0
    src, dst = np.nonzero(has)[0], referrer[has]
    deg = np.bincount(src, minlength=n) + np.bincount(dst, minlength=n)
    churned_nb = np.bincount(src, weights=former[dst], minlength=n) + np.bincount(dst, weights=former[src], minlength=n)
    share = np.divide(churned_nb, deg, out=np.zeros(n), where=deg > 0)
    return share, deg


def _referral_onboarding(
    referrer: np.ndarray, engagement: np.ndarray, active: np.ndarray, tenure_months: np.ndarray, cfg: dict[str, Any]
) -> np.ndarray:
    """Churn-logit reduction (before ``contagion_strength``) from an engaged, still active referrer.

    Referred customers lean on their referrer while they learn the product, so the referrer's
    engagement matters most in the first months and fades as ``exp(-tenure / onboarding_months)``.
    A referrer who already left (or no referrer) contributes nothing; that loss is the churned-
    neighbour exposure. Only the referrer's behaviour reveals this, never the customer's own
    demographics, so it is a one-hop effect through neighbour *features*, not neighbour labels."""
    weight = float(cfg.get("referral_onboarding", 0.0))
    out = np.zeros(referrer.size)
    has = referrer >= 0
    if weight == 0.0 or not has.any():
        return out
    ref = referrer[has]
    fade = np.exp(-tenure_months[has] / float(cfg.get("onboarding_months", 6.0)))
    out[has] = weight * fade * engagement[ref] * active[ref]
    return out


def _signups(rng: np.random.Generator, n: int, cfg: dict[str, Any]) -> Arrays:
    """Signup timeline (index order == signup order); the cold-start cohort signed up last."""
    cold = rng.random(n) < cfg["cold_start_share"]
    days_ago = np.where(
        cold,
        rng.uniform(0.5, cfg["cold_start_days"], n),
        rng.uniform(cfg["cold_start_days"], cfg["history_days"], n),
    )
    order = np.argsort(-days_ago, kind="stable")
    days_ago, cold = days_ago[order], cold[order]
    return {"cold": cold, "days_ago": days_ago, "tenure_months": days_ago / 30.44}


def _people(rng: np.random.Generator, n: int, cfg: dict[str, Any]) -> Arrays:
    """Demographics, the referral graph and the (homophilous) latent risk z."""
    age = np.clip(rng.normal(42, 14, n), 18, 85).round().astype(np.int64)
    income = INCOME[np.digitize(rng.standard_normal(n) + (age - 42) / 30, [-0.5, 0.7])]
    region = REGIONS[rng.integers(0, REGIONS.size, n)]
    referrer, z, region = _referrals(rng, n, cfg, region)
    channel = np.where(referrer >= 0, "referral", CHANNELS[rng.integers(0, 3, n)])
    return {"age": age, "income": income, "region": region, "referrer": referrer, "z": z, "channel": channel}


def _account(rng: np.random.Generator, n: int, w: Arrays) -> Arrays:
    """Contract, plan, charges, payment method and paperless billing."""
    z, age, income = w["z"], w["age"], w["income"]
    young = (age < 30).astype(float)
    m2m_logit = 0.3 + 0.6 * z + 0.5 * young - 0.6 * (income == "high")
    two_year_logit = -1.2 - 0.5 * z + 0.02 * (age - 42)
    u = rng.random(n)
    p_m2m = sigmoid(m2m_logit)
    p_two = (1 - p_m2m) * sigmoid(two_year_logit)
    contract = np.where(u < p_m2m, "month_to_month", np.where(u < p_m2m + p_two, "two_year", "one_year"))
    plan_score = (income == "high") * 1.0 - (income == "low") * 1.0 + rng.normal(0, 1, n)
    plan = PLANS[np.digitize(plan_score, [-0.6, 0.8])]
    base_price = np.select([plan == "basic", plan == "standard"], [35.0, 65.0], 95.0)
    monthly_charges = np.round(base_price + rng.normal(0, 9, n) + 6 * (contract == "month_to_month"), 2)
    monthly_charges = np.clip(monthly_charges, 10, None)
    pay_logits = np.stack([np.zeros(n), -0.2 + 0 * z, -0.4 + 0.7 * z, -1.2 + 0.3 * (age > 60)], axis=1)
    pay_p = np.exp(pay_logits) / np.exp(pay_logits).sum(1, keepdims=True)
    payment = PAYMENTS[(rng.random((n, 1)) > pay_p.cumsum(1)).sum(1).clip(0, 3)]
    paperless = rng.random(n) < sigmoid(0.5 - 0.02 * (age - 42))
    return {
        "young": young,
        "contract": contract,
        "plan": plan,
        "monthly_charges": monthly_charges,
        "payment": payment,
        "paperless": paperless,
    }


def _behaviour(rng: np.random.Generator, n: int, w: Arrays) -> Arrays:
    """True behaviour before any manipulation: engagement, usage, support tickets."""
    engagement = -0.7 * w["z"] + 0.7 * rng.standard_normal(n)
    usage = np.exp(2.8 + 0.45 * engagement + rng.normal(0, 0.3, n))
    tickets = rng.poisson(np.exp(-0.4 + 0.55 * w["z"] + 0.25 * (w["plan"] == "premium")))
    return {"engagement": engagement, "usage": usage, "tickets": tickets}


def _history(rng: np.random.Generator, n: int, w: Arrays, cfg: dict[str, Any]) -> Arrays:
    """Who left before T (nodes of the graph, not rows of the model) and the contagion it exposes."""
    former = (~w["cold"]) & (rng.random(n) < sigmoid(-2.6 + 0.9 * w["z"] + 0.5 * (w["contract"] == "month_to_month")))
    churn_days_ago = rng.uniform(0, 1, n) * w["days_ago"]
    exposure, _degree = _neighbour_exposure(w["referrer"], former.astype(float))
    onboarding = _referral_onboarding(w["referrer"], w["engagement"], ~former, w["tenure_months"], cfg)
    return {"former": former, "churn_days_ago": churn_days_ago, "exposure": exposure, "onboarding": onboarding}


def _true_probability(w: Arrays, cfg: dict[str, Any]) -> np.ndarray:
    """True churn probability at T without any offer (docs/synthetic_world.md, Mechanisms)."""
    established = (~w["cold"]).astype(float)
    logit = (
        -2.15
        + 1.0 * (w["contract"] == "month_to_month")
        - 0.6 * (w["contract"] == "two_year")
        - 0.35 * (np.log1p(w["tenure_months"]) - 2.5)
        + 0.02 * (w["monthly_charges"] - 65)
        + 0.35 * (w["payment"] == "electronic_check")
        - 0.25 * (w["income"] == "high")
        + 0.15 * w["young"]
        + 0.55 * w["cold"]  # onboarding risk
        + established * (0.32 * np.minimum(w["tickets"], 6) - 0.45 * w["engagement"])
        + float(cfg["latent_weight"]) * w["z"]
        + float(cfg["contagion_strength"]) * (w["exposure"] - w["onboarding"])
    )
    return sigmoid(logit)


def _fraud(rng: np.random.Generator, n: int, w: Arrays, cfg: dict[str, Any]) -> Arrays:
    """Fraudsters fake churn signals while their true risk is low; what everyone shows on the outside."""
    active = ~w["former"]
    fraud = active & ~w["cold"] & (rng.random(n) < cfg["fraud_share"])
    return {
        "active": active,
        "fraud": fraud,
        "p0": np.where(fraud, w["p0"] * 0.3, w["p0"]),
        "obs_tickets": np.where(fraud, w["tickets"] + 2 + rng.poisson(3, n), w["tickets"]),
        "obs_usage": np.where(fraud, w["usage"] * rng.uniform(0.15, 0.4, n), w["usage"]),
        "obs_engagement": np.where(fraud, w["engagement"] - 1.5, w["engagement"]),
        "abandon": sigmoid(-1.0 + 0.9 * w["z"] + np.where(fraud, 2.5, 0.0)),
        "cancel_affinity": sigmoid(-3.0 + 1.0 * w["z"] + np.where(fraud, 3.0, 0.0)),
    }


def offer_effects(
    p0: np.ndarray,
    fraud: np.ndarray,
    charges: np.ndarray,
    income: np.ndarray,
    usage: np.ndarray,
    plan: np.ndarray,
    contract: np.ndarray,
    tickets: np.ndarray,
    scale: dict[str, float],
) -> dict[str, np.ndarray]:
    """Heterogeneous true effect of each offer (absolute churn-probability reduction); none for fraudsters.

    The world's one law of the offers (month 0 here, every month of the roll-forward in timeline.py):
    a new offer gets its relative effect here (docs/CONTRIBUTING.md, "How to add an offer")."""
    price_sens = sigmoid((charges - 70) / 15 + 0.8 * (income == "low") - 0.8 * (income == "high"))
    usage_z = (np.log(usage) - 2.8) / 0.5
    rel = {
        "discount_10": 0.20 * price_sens,
        "discount_20": 0.38 * price_sens,
        "feature_upgrade": 0.35 * sigmoid(-2 * usage_z) * (plan != "premium"),
        "contract_upgrade": 0.45 * (contract == "month_to_month") + 0.05 * (contract == "one_year"),
        "retention_call": 0.40 * np.minimum(tickets, 5) / 5,
    }
    return {k: np.where(fraud, 0.0, p0 * np.clip(rel[k] * float(scale[k]), 0, 0.95)) for k in OFFERS}


def _offer_effects(w: Arrays, cfg: dict[str, Any]) -> dict[str, np.ndarray]:
    return offer_effects(
        w["p0"],
        w["fraud"],
        w["monthly_charges"],
        w["income"],
        w["usage"],
        w["plan"],
        w["contract"],
        w["tickets"],
        cfg["offer_effect_scale"],
    )


def _campaign(rng: np.random.Generator, n: int, w: Arrays, cfg: dict[str, Any]) -> Arrays:
    """The randomized campaign at T (uniform arms) and the realised labels."""
    in_campaign = w["active"] & ~w["cold"] & (rng.random(n) < cfg["campaign_share"])
    arm = np.where(in_campaign, rng.integers(0, len(ARMS), n), 0)
    p_received = w["p0"].copy()
    for k_i, k in enumerate(OFFERS, start=1):
        p_received = np.where(arm == k_i, w["p0"] - w["effects"][k], p_received)
    churned = (rng.random(n) < p_received).astype(np.int8)
    offer = np.asarray(ARMS, dtype=object)[arm]
    return {"in_campaign": in_campaign, "offer": offer, "p_received": p_received, "churned": churned}


def _draw(rng: np.random.Generator, n: int, cfg: dict[str, Any]) -> Arrays:
    """Every per-customer array, in the one order the random stream is consumed."""
    w = _signups(rng, n, cfg)
    w.update(_people(rng, n, cfg))
    w.update(_account(rng, n, w))
    w.update(_behaviour(rng, n, w))
    w.update(_history(rng, n, w, cfg))
    w["p0"] = _true_probability(w, cfg)
    w.update(_fraud(rng, n, w, cfg))
    w["effects"] = _offer_effects(w, cfg)
    w.update(_campaign(rng, n, w, cfg))
    return w


def draw_world(cfg: dict[str, Any], seed: int) -> World:
    """The world described by params ``world`` for ``seed`` (pure: nothing is written)."""
    world_config(cfg)  # the section's schema: an unknown key or a mistyped value stops here, named
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    n = int(cfg["customers"])
    obs = pd.Timestamp(cfg["observation_date"])
    w = _draw(rng, n, cfg)
    ids = _customer_ids(n)
    raw, truth = raw_tables(w, ids, obs), truth_table(w, ids)
    active, has_events = w["active"], w["active"] & ~w["cold"]
    events = event_chunks(
        rng,
        ids,
        has_events,
        w["obs_engagement"],
        w["abandon"],
        w["cancel_affinity"],
        int(obs.value // 1_000_000),
        cfg["events"],
    )
    counts = {
        "customers": n,
        "active": int(active.sum()),
        "former": int(w["former"].sum()),
        "cold_start": int((active & w["cold"]).sum()),
        "referrals": int((w["referrer"] >= 0).sum()),
        "churn_rate": float(w["churned"][active].mean()),
        "mean_true_probability": float(w["p_received"][active].mean()),
        "fraudsters": int(w["fraud"].sum()),
    }
    return World(seed, cfg, raw, truth, events, chunk_count(has_events, cfg["events"]), counts, started)


def generate_world(
    cfg: dict[str, Any], seed: int, raw_dir: Path, truth_dir: Path, progress: bool = True
) -> WorldSummary:
    """Draw the world of params ``world`` and write it into ``raw_dir`` and ``truth_dir``."""
    return write_world(draw_world(cfg, seed), raw_dir, truth_dir, progress)


def _write_events(
    rng, path: Path, ids, has_events, engagement, abandon, cancel_affinity, obs_ms: int, ev_cfg, progress: bool
) -> int:
    """Events of the given customers into ``path`` (the rolling world's months call this)."""
    chunks = event_chunks(rng, ids, has_events, engagement, abandon, cancel_affinity, obs_ms, ev_cfg)
    return write_events(path, chunks, chunk_count(has_events, ev_cfg), progress)


__all__ = [
    "EVENT_SCHEMA",
    "EVENT_TYPES",
    "PAGES",
    "World",
    "WorldSummary",
    "draw_world",
    "generate_world",
    "write_world",
]
