"""A world that moves: roll the synthetic world forward month by month from its month-0 state.

Month 0 *is* :func:`generate_world`'s output (called unchanged, same params and seed), so every
other metric of the project stays put. Later months come from a separate random stream
(``seed`` + ``STREAM_OFFSET``) and the month-0 files (raw + truth), so the generator is not touched.

Dynamics (docs/synthetic_world.md, "A world that moves"):
- a month is 30 days; ``T_m = T + 30·m``; the label of snapshot m is churn in ``(T_m, T_m + 60 d]``,
  so it matures at ``T_{m+2}``. Churn is a monthly hazard ``h = 1 − sqrt(1 − p)`` of the
  generator's 60-day probability ``p`` under the month's state (month-0 labels are kept as drawn);
- slots: every month-0 active customer holds a slot; a leaver's slot is refilled by a new customer
  (new id) with the leaver's profile (demographics, contract, plan, charges, latent risk, graph
  position) and a new tenure: a sign-up of the last 14 days with probability ``cold_refill``
  (keeps the cold-start share), otherwise a tenure from the month-0 distribution times
  ``refill_tenure_scale`` (offsets the ageing of the survivors). This keeps the
  stable scenario stationary although the world loses about 13 % of its customers a month;
- behaviour (engagement, usage, tickets, clicks) is redrawn every month around each slot's latent
  variables (engagement noise is AR(1)); a fresh randomized campaign runs every month;
- change events (``scenario``): ``covariate_shift`` (a new acquisition channel with its own mix
  refills a share of the leavers from ``start``), ``concept_shift`` (a competitor's price cut adds
  ``strength`` to the churn logit of customers paying ``>= min_charges`` from ``start``), ``stable``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnguard.core.config import build
from churnguard.core.numeric import sigmoid
from churnguard.core.vocabulary import ARMS, OFFERS, PROFILE
from churnguard.world import generator as gen

STREAM_OFFSET = 1_000_003  # the roll-forward's own random stream, never the generator's
MONTH_DAYS = 30
LABEL_MONTHS = 2  # 60-day label window = two monthly steps
SCENARIOS = ("stable", "covariate_shift", "concept_shift")
NEW_CHANNEL = "social"
STATIC = [
    *PROFILE,
    "paperless_billing",
    "monthly_charges",
]


@dataclass(frozen=True)
class CovariateShift:
    """A new acquisition channel refills ``share`` of the leavers from month ``start``."""

    start: int
    share: float
    age_mean: float
    month_to_month: float


@dataclass(frozen=True)
class ConceptShift:
    """A competitor's price cut: churn logit + ``strength`` for charges >= ``min_charges`` from ``start``."""

    start: int
    strength: float
    min_charges: float


@dataclass(frozen=True)
class Scenarios:
    covariate_shift: CovariateShift
    concept_shift: ConceptShift


@dataclass(frozen=True)
class TimelineConfig:
    """params ``monitor.timeline``."""

    cold_refill: float
    refill_tenure_scale: float
    engagement_persistence: float
    scenarios: Scenarios


Event = CovariateShift | ConceptShift


def timeline_config(section: Mapping[str, Any], where: str = "monitor.timeline") -> TimelineConfig:
    return build(TimelineConfig, section, where)


def month_dir(root: Path, month: int) -> Path:
    return Path(root) / f"month_{month:02d}"


def load_month0(raw: Path, truth: Path) -> pd.DataFrame:
    """One row per slot (month-0 active customer): static profile, latent state, label."""
    cust = pd.read_parquet(raw / "customers.parquet")
    tr = pd.read_parquet(truth / "customers_truth.parquet").set_index("customer_id").loc[cust["customer_id"]]
    s = cust[["customer_id", "tenure_months", *STATIC]].copy()
    s["z"] = tr["latent_risk"].to_numpy()
    s["eng_noise"] = (tr["engagement"].to_numpy() + 0.7 * s["z"].to_numpy()) / 0.7
    s["fraud"] = tr["is_fraud"].to_numpy()
    s["exposure"] = tr["neighbour_exposure"].to_numpy()
    s["onboarding"] = tr["referral_onboarding"].to_numpy()
    s["p_received"] = tr["p_received"].to_numpy()
    s["churn_month"] = np.where(cust["churn_label"].to_numpy() == "Yes", 0, -1)
    s["decided_until"] = LABEL_MONTHS
    return s.reset_index(drop=True)


def first_churn_months(rng, slots: pd.DataFrame) -> None:
    """Month-0 churners leave in month 1 or 2: P(month 1 | churn within two) = 1 / (2 − h)."""
    h = 1.0 - np.sqrt(np.clip(1.0 - slots["p_received"].to_numpy(), 0, 1))
    yes = slots["churn_month"].to_numpy() == 0
    first = rng.random(len(slots)) < 1.0 / (2.0 - h)
    slots["churn_month"] = np.where(yes, np.where(first, 1, 2), -1)


def refill(rng, slots, leave, month, next_id, tenure_pool, cfg: TimelineConfig, scenario: dict[str, Event]) -> int:
    """New customers in the leavers' slots; returns the next free id number."""
    idx = np.nonzero(leave)[0]
    if idx.size == 0:
        return next_id
    slots.loc[idx, "customer_id"] = [f"C{i:07d}" for i in range(next_id, next_id + idx.size)]
    cold = rng.random(idx.size) < cfg.cold_refill
    tenure = np.where(
        cold,
        rng.uniform(0.5, 14, idx.size) / 30.44,
        rng.choice(tenure_pool, idx.size) * cfg.refill_tenure_scale,
    )
    slots.loc[idx, "tenure_months"] = np.round(tenure, 2)
    slots.loc[idx, "eng_noise"] = rng.standard_normal(idx.size)
    slots.loc[idx, "churn_month"] = -1
    slots.loc[idx, "decided_until"] = month
    slots.loc[idx, "new_channel"] = False
    ev = scenario.get("covariate_shift")
    if isinstance(ev, CovariateShift) and month >= ev.start:
        new = idx[rng.random(idx.size) < ev.share]
        _new_channel_customers(rng, slots, new, ev)
    return next_id + idx.size


def _new_channel_customers(rng, slots, idx, ev: CovariateShift) -> None:
    """A new acquisition channel: younger, poorer, month-to-month, cheap plans, e-check payers."""
    n = idx.size
    if n == 0:
        return
    age = np.clip(rng.normal(ev.age_mean, 6, n), 18, 85).round().astype(np.int64)
    slots.loc[idx, "age"] = age
    slots.loc[idx, "income_band"] = gen.INCOME[np.digitize(rng.standard_normal(n) - 0.6, [-0.5, 0.7])]
    slots.loc[idx, "region"] = gen.REGIONS[rng.integers(0, gen.REGIONS.size, n)]
    slots.loc[idx, "signup_channel"] = NEW_CHANNEL
    slots.loc[idx, "plan"] = np.where(rng.random(n) < 0.7, "basic", "standard")
    m2m = rng.random(n) < ev.month_to_month
    slots.loc[idx, "contract"] = np.where(m2m, "month_to_month", "one_year")
    slots.loc[idx, "payment_method"] = np.where(rng.random(n) < 0.5, "electronic_check", "card")
    slots.loc[idx, "paperless_billing"] = True
    base = np.where(slots.loc[idx, "plan"].to_numpy() == "basic", 35.0, 65.0)
    slots.loc[idx, "monthly_charges"] = np.clip(np.round(base + rng.normal(0, 9, n) + 6 * m2m, 2), 10, None)
    slots.loc[idx, "z"] = rng.standard_normal(n)
    slots.loc[idx, ["exposure", "onboarding"]] = 0.0
    slots.loc[idx, "new_channel"] = True


def behaviour(rng, slots, cold, eng_rho: float) -> dict[str, np.ndarray]:
    """This month's engagement, usage and tickets (fraudsters fake churn signals, as at month 0)."""
    n = len(slots)
    noise = eng_rho * slots["eng_noise"].to_numpy() + np.sqrt(1 - eng_rho**2) * rng.standard_normal(n)
    slots["eng_noise"] = noise
    z, fraud = slots["z"].to_numpy(), slots["fraud"].to_numpy(bool)
    engagement = -0.7 * z + 0.7 * noise
    usage = np.exp(2.8 + 0.45 * engagement + rng.normal(0, 0.3, n))
    tickets = rng.poisson(np.exp(-0.4 + 0.55 * z + 0.25 * (slots["plan"].to_numpy() == "premium")))
    return {
        "engagement": engagement,
        "tickets": tickets,
        "usage": usage,
        "obs_tickets": np.where(cold, 0, np.where(fraud, tickets + 2 + rng.poisson(3, n), tickets)),
        "obs_usage": np.where(cold, np.nan, np.round(np.where(fraud, usage * rng.uniform(0.15, 0.4, n), usage), 2)),
        "obs_engagement": np.where(fraud, engagement - 1.5, engagement),
    }


def true_probability(slots, beh, cold, cfg_world, concept_term) -> np.ndarray:
    """The generator's 60-day churn probability (no offer) for this month's state."""
    contract, tenure = slots["contract"].to_numpy(), slots["tenure_months"].to_numpy(float)
    logit = (
        -2.15
        + 1.0 * (contract == "month_to_month")
        - 0.6 * (contract == "two_year")
        - 0.35 * (np.log1p(tenure) - 2.5)
        + 0.02 * (slots["monthly_charges"].to_numpy(float) - 65)
        + 0.35 * (slots["payment_method"].to_numpy() == "electronic_check")
        - 0.25 * (slots["income_band"].to_numpy() == "high")
        + 0.15 * (slots["age"].to_numpy() < 30)
        + 0.55 * cold
        + (~cold) * (0.32 * np.minimum(beh["tickets"], 6) - 0.45 * beh["engagement"])
        + float(cfg_world["latent_weight"]) * slots["z"].to_numpy(float)
        + float(cfg_world["contagion_strength"]) * (slots["exposure"].to_numpy() - slots["onboarding"].to_numpy())
        + concept_term
    )
    p = sigmoid(logit)
    return np.where(slots["fraud"].to_numpy(bool), p * 0.3, p)


def campaign(rng, slots, beh, cold, p0, cfg_world) -> tuple[np.ndarray, np.ndarray]:
    """This month's randomized campaign (as at month 0): (arm per customer, None outside the campaign;
    churn probability received)."""
    n = len(slots)
    effects = gen.offer_effects(
        p0,
        slots["fraud"].to_numpy(bool),
        slots["monthly_charges"].to_numpy(float),
        slots["income_band"].to_numpy(),
        beh["usage"],
        slots["plan"].to_numpy(),
        slots["contract"].to_numpy(),
        beh["tickets"],
        cfg_world["offer_effect_scale"],
    )
    in_campaign = ~cold & (rng.random(n) < float(cfg_world["campaign_share"]))
    arm = np.where(in_campaign, rng.integers(0, len(ARMS), n), 0)
    p_received = p0.copy()
    for k_i, k in enumerate(OFFERS, start=1):
        p_received = np.where(arm == k_i, p0 - effects[k], p_received)
    # arm "none" is the campaign's control group (listed in campaign.parquet, as at month 0)
    outside = np.full(n, None, dtype=object)
    return np.where(in_campaign, np.asarray(ARMS, dtype=object)[arm], outside), p_received


def concept_term(slots, month: int, scenario: dict[str, Event]) -> np.ndarray:
    """Logit shift of the concept-shift event (zero before its start and outside its segment)."""
    ev = scenario.get("concept_shift")
    if not isinstance(ev, ConceptShift) or month < ev.start:
        return np.zeros(len(slots))
    return ev.strength * affected_segment(slots, scenario)


def affected_segment(slots, scenario: dict[str, Event]) -> np.ndarray:
    ev = scenario.get("concept_shift")
    if not isinstance(ev, ConceptShift):
        return np.zeros(len(slots), dtype=bool)
    return slots["monthly_charges"].to_numpy(float) >= ev.min_charges


def scenario_events(name: str, cfg: TimelineConfig) -> dict[str, Event]:
    """{event name: its settings} of a named scenario (``monitor.timeline.scenarios`` in params)."""
    if name not in SCENARIOS:
        raise ValueError(f"timeline scenario must be one of {SCENARIOS}, got {name!r}")
    return {} if name == "stable" else {name: getattr(cfg.scenarios, name)}
