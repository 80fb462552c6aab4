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
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from churnguard.core.numeric import sigmoid
from churnguard.core.vocabulary import ARMS, OFFERS

REGIONS = np.array(["north", "south", "east", "west", "central"])
INCOME = np.array(["low", "mid", "high"])
CHANNELS = np.array(["web", "store", "partner", "referral"])
PLANS = np.array(["basic", "standard", "premium"])
CONTRACTS = np.array(["month_to_month", "one_year", "two_year"])
PAYMENTS = np.array(["card", "bank_transfer", "electronic_check", "mailed_check"])
EVENT_TYPES = np.array(["page_view", "click", "add_to_cart", "remove_from_cart", "checkout"])
PAGES = np.array(["home", "product", "search", "cart", "account", "support", "cancel"])
DAY_MS = 86_400_000


def _customer_ids(n: int) -> np.ndarray:
    return np.char.add("C", np.char.zfill(np.arange(n).astype(str), 7))


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


def generate_world(
    cfg: dict[str, Any], seed: int, raw_dir: Path, truth_dir: Path, progress: bool = True
) -> WorldSummary:
    """Generate the world described by params ``world`` into ``raw_dir`` and ``truth_dir``."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    n = int(cfg["customers"])
    obs = pd.Timestamp(cfg["observation_date"])
    obs_ms = int(obs.value // 1_000_000)
    raw_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)

    # --- signup timeline (index order == signup order) --------------------------------
    cold = rng.random(n) < cfg["cold_start_share"]
    days_ago = np.where(
        cold,
        rng.uniform(0.5, cfg["cold_start_days"], n),
        rng.uniform(cfg["cold_start_days"], cfg["history_days"], n),
    )
    order = np.argsort(-days_ago, kind="stable")
    days_ago, cold = days_ago[order], cold[order]
    tenure_months = days_ago / 30.44

    # --- demographics, referral graph, latent risk -------------------------------------
    age = np.clip(rng.normal(42, 14, n), 18, 85).round().astype(np.int64)
    income = INCOME[np.digitize(rng.standard_normal(n) + (age - 42) / 30, [-0.5, 0.7])]
    region = REGIONS[rng.integers(0, REGIONS.size, n)]
    referrer, z, region = _referrals(rng, n, cfg, region)
    channel = np.where(referrer >= 0, "referral", CHANNELS[rng.integers(0, 3, n)])

    # --- account ---------------------------------------------------------------------
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

    # --- behaviour (true, before manipulation) ------------------------------------------
    engagement = -0.7 * z + 0.7 * rng.standard_normal(n)
    usage = np.exp(2.8 + 0.45 * engagement + rng.normal(0, 0.3, n))
    tickets = rng.poisson(np.exp(-0.4 + 0.55 * z + 0.25 * (plan == "premium")))

    # --- customers who left before T (nodes of the graph, not rows of the model) --------
    former = (~cold) & (rng.random(n) < sigmoid(-2.6 + 0.9 * z + 0.5 * (contract == "month_to_month")))
    churn_days_ago = rng.uniform(0, 1, n) * days_ago
    exposure, degree = _neighbour_exposure(referrer, former.astype(float))

    onboarding = _referral_onboarding(referrer, engagement, ~former, tenure_months, cfg)

    # --- true churn probability at T, without any offer ---------------------------------
    established = (~cold).astype(float)
    logit = (
        -2.15
        + 1.0 * (contract == "month_to_month")
        - 0.6 * (contract == "two_year")
        - 0.35 * (np.log1p(tenure_months) - 2.5)
        + 0.02 * (monthly_charges - 65)
        + 0.35 * (payment == "electronic_check")
        - 0.25 * (income == "high")
        + 0.15 * young
        + 0.55 * cold  # onboarding risk
        + established * (0.32 * np.minimum(tickets, 6) - 0.45 * engagement)
        + float(cfg["latent_weight"]) * z
        + float(cfg["contagion_strength"]) * (exposure - onboarding)
    )
    p0 = sigmoid(logit)

    # --- fraudsters: fake churn signals, low true risk ----------------------------------
    active = ~former
    fraud = active & ~cold & (rng.random(n) < cfg["fraud_share"])
    p0 = np.where(fraud, p0 * 0.3, p0)
    obs_tickets = np.where(fraud, tickets + 2 + rng.poisson(3, n), tickets)
    obs_usage = np.where(fraud, usage * rng.uniform(0.15, 0.4, n), usage)
    obs_engagement = np.where(fraud, engagement - 1.5, engagement)
    abandon = sigmoid(-1.0 + 0.9 * z + np.where(fraud, 2.5, 0.0))
    cancel_affinity = sigmoid(-3.0 + 1.0 * z + np.where(fraud, 3.0, 0.0))

    # --- heterogeneous true effects of each offer (relative churn reduction) ------------
    scale = cfg["offer_effect_scale"]
    price_sens = sigmoid((monthly_charges - 70) / 15 + 0.8 * (income == "low") - 0.8 * (income == "high"))
    usage_z = (np.log(usage) - 2.8) / 0.5
    rel = {
        "discount_10": 0.20 * price_sens,
        "discount_20": 0.38 * price_sens,
        "feature_upgrade": 0.35 * sigmoid(-2 * usage_z) * (plan != "premium"),
        "contract_upgrade": 0.45 * (contract == "month_to_month") + 0.05 * (contract == "one_year"),
        "retention_call": 0.40 * np.minimum(tickets, 5) / 5,
    }
    effects = {k: np.where(fraud, 0.0, p0 * np.clip(rel[k] * float(scale[k]), 0, 0.95)) for k in OFFERS}

    # --- the randomized campaign at T, and the realised labels -------------------------
    in_campaign = active & ~cold & (rng.random(n) < cfg["campaign_share"])
    arm = np.where(in_campaign, rng.integers(0, len(ARMS), n), 0)
    offer = np.asarray(ARMS, dtype=object)[arm]
    p_received = p0.copy()
    for k_i, k in enumerate(OFFERS, start=1):
        p_received = np.where(arm == k_i, p0 - effects[k], p_received)
    churned = (rng.random(n) < p_received).astype(np.int8)

    ids = _customer_ids(n)
    signup_date = (obs - pd.to_timedelta(np.floor(days_ago), unit="D")).normalize()
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "signup_date": signup_date,
            "tenure_months": np.round(tenure_months, 2),
            "age": age,
            "income_band": income,
            "region": region,
            "signup_channel": channel,
            "plan": plan,
            "contract": contract,
            "payment_method": payment,
            "paperless_billing": paperless,
            "monthly_charges": monthly_charges,
            "total_charges": np.round(monthly_charges * np.maximum(tenure_months, 0.03), 2),
            "support_tickets_90d": np.where(cold, 0, obs_tickets).astype(np.int64),
            "usage_hours_30d": np.where(cold, np.nan, np.round(obs_usage, 2)),
            "churn_label": np.where(churned == 1, "Yes", "No"),
        }
    )
    customers[active].reset_index(drop=True).to_parquet(raw_dir / "customers.parquet", index=False)
    formers = customers[former].drop(columns=["churn_label", "usage_hours_30d"]).copy()
    formers["churn_date"] = (obs - pd.to_timedelta(np.floor(churn_days_ago[former]), unit="D")).normalize()
    formers.reset_index(drop=True).to_parquet(raw_dir / "former_customers.parquet", index=False)
    has_ref = referrer >= 0
    pd.DataFrame(
        {
            "referrer_id": ids[referrer[has_ref]],
            "referee_id": ids[has_ref],
            "referral_date": signup_date[has_ref],
        }
    ).to_parquet(raw_dir / "referrals.parquet", index=False)
    pd.DataFrame(
        {
            "customer_id": ids[in_campaign],
            "offer": offer[in_campaign],
            "assigned_date": obs,
        }
    ).to_parquet(raw_dir / "campaign.parquet", index=False)

    truth = pd.DataFrame(
        {
            "customer_id": ids,
            "active": active,
            "cold_start": cold,
            "p_churn": p0,
            "offer_received": offer,
            "p_received": p_received,
            "latent_risk": z,
            "engagement": engagement,
            "neighbour_exposure": exposure,
            "referral_onboarding": onboarding,
            "is_fraud": fraud,
            **{f"effect_{k}": v for k, v in effects.items()},
        }
    )
    truth[active].reset_index(drop=True).to_parquet(truth_dir / "customers_truth.parquet", index=False)

    # --- click-stream, in chunks so 1M customers fit in memory -------------------------
    ev_cfg = cfg["events"]
    has_events = active & ~cold
    n_events = _write_events(
        rng,
        raw_dir / "events.parquet",
        ids,
        has_events,
        obs_engagement,
        abandon,
        cancel_affinity,
        obs_ms,
        ev_cfg,
        progress=progress,
    )

    summary = WorldSummary(
        customers=n,
        active=int(active.sum()),
        former=int(former.sum()),
        cold_start=int((active & cold).sum()),
        referrals=int(has_ref.sum()),
        events=n_events,
        churn_rate=float(churned[active].mean()),
        mean_true_probability=float(p_received[active].mean()),
        fraudsters=int(fraud.sum()),
        seconds=round(time.perf_counter() - t0, 2),
    )
    (truth_dir / "world.json").write_text(
        json.dumps({"seed": seed, "params": cfg, "summary": summary.as_dict()}, indent=2, default=str)
    )
    return summary


EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.int64()),
        ("user_id", pa.string()),
        ("session_id", pa.int64()),
        ("event_type", pa.string()),
        ("ts", pa.int64()),  # epoch milliseconds
        ("page", pa.string()),
        ("cart_value", pa.float64()),  # cart total after this event
    ]
)


def _write_events(
    rng,
    path: Path,
    ids,
    has_events,
    engagement,
    abandon,
    cancel_affinity,
    obs_ms: int,
    ev_cfg: dict[str, Any],
    progress: bool,
) -> int:
    from tqdm import tqdm

    chunk = int(ev_cfg["chunk_customers"])
    window_ms = int(ev_cfg["window_days"]) * DAY_MS
    users = np.nonzero(has_events)[0]
    next_event_id, next_session_id, total = 0, 0, 0
    with pq.ParquetWriter(path, EVENT_SCHEMA) as writer:
        for start in tqdm(range(0, users.size, chunk), desc="events", disable=not progress, unit="chunk"):
            u = users[start : start + chunk]
            lam = ev_cfg["sessions_per_customer"] * np.exp(0.45 * engagement[u] - 0.1)
            n_sess = rng.poisson(lam)
            s_user = np.repeat(u, n_sess)
            n_s = s_user.size
            if n_s == 0:
                continue
            s_len = 1 + rng.poisson(ev_cfg["events_per_session"] - 1, n_s)
            # sessions start in the window; events must end before T (no future leakage)
            s_start = obs_ms - window_ms + (rng.random(n_s) * (window_ms - 3_600_000)).astype(np.int64)
            e_sess = np.repeat(np.arange(n_s), s_len)
            e_user = s_user[e_sess]
            n_e = e_sess.size
            first = np.zeros(n_e, dtype=bool)
            offsets = np.cumsum(s_len) - s_len
            first[offsets] = True
            last = np.zeros(n_e, dtype=bool)
            last[offsets + s_len - 1] = True
            mean_gap = np.exp(2.0 - 0.3 * engagement[e_user])  # seconds
            gap_ms = (rng.exponential(1.0, n_e) * mean_gap * 1000).astype(np.int64)
            gap_ms[first] = 0
            cum = np.cumsum(gap_ms)
            ts = s_start[e_sess] + cum - np.repeat(cum[offsets], s_len)
            ts = np.minimum(ts, obs_ms - 1)
            a = abandon[e_user]
            r = rng.random(n_e)
            p_view, p_click, p_add = 0.45, 0.30, 0.17
            p_remove = 0.03 + 0.10 * a
            etype = np.where(
                r < p_view,
                0,
                np.where(r < p_view + p_click, 1, np.where(r < p_view + p_click + p_add * (1 - 0.3 * a), 2, 3)),
            )
            checkout = last & (rng.random(n_e) < (1 - a) * 0.6)
            etype = np.where(checkout, 4, np.where(etype == 3, np.where(rng.random(n_e) < p_remove * 4, 3, 0), etype))
            price = np.round(rng.lognormal(3.4, 0.6, n_e), 2)
            delta = np.where(etype == 2, price, np.where(etype == 3, -price, 0.0))
            running = np.cumsum(delta)
            cart = np.maximum(running - np.repeat(running[offsets] - delta[offsets], s_len), 0.0)
            page_r = rng.random(n_e)
            ca = cancel_affinity[e_user]
            page = np.where(
                page_r < ca * 0.5, 6, np.where(page_r < ca * 0.5 + 0.05 + 0.1 * a, 5, rng.integers(0, 5, n_e))
            )
            page = np.where(etype == 4, 3, np.where(np.isin(etype, [2, 3]), 1, page))
            table = pa.table(
                {
                    "event_id": np.arange(next_event_id, next_event_id + n_e, dtype=np.int64),
                    "user_id": ids[e_user],
                    "session_id": (e_sess + next_session_id).astype(np.int64),
                    "event_type": EVENT_TYPES[etype],
                    "ts": ts.astype(np.int64),
                    "page": PAGES[page],
                    "cart_value": np.round(cart, 2),
                },
                schema=EVENT_SCHEMA,
            )
            writer.write_table(table)
            next_event_id += n_e
            next_session_id += n_s
            total += n_e
    return total
