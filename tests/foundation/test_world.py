"""The synthetic world: honest labels, determinism, no future leakage, documented mechanisms."""

from __future__ import annotations

import copy
import hashlib

import numpy as np
import pandas as pd
import pytest

from churnguard.core.config import load_params
from churnguard.world import generate_world

T_MS = int(pd.Timestamp(load_params()["world"]["observation_date"]).value // 1_000_000)


def _world(tmp_path, seed=7, **overrides):
    cfg = copy.deepcopy(load_params()["world"])
    cfg.update({"customers": 20000, **overrides})
    out = tmp_path / f"w{seed}_{abs(hash(tuple(sorted(map(str, overrides.items())))))}"
    summary = generate_world(cfg, seed, out / "raw", out / "truth", progress=False)
    return summary, out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return _world(tmp_path_factory.mktemp("world"))


def test_churn_rate_matches_mean_true_probability(world):
    _, out = world
    customers = pd.read_parquet(out / "raw" / "customers.parquet")
    truth = pd.read_parquet(out / "truth" / "customers_truth.parquet")
    assert (customers["customer_id"].to_numpy() == truth["customer_id"].to_numpy()).all()
    y = (customers["churn_label"] == "Yes").to_numpy()
    p = truth["p_received"].to_numpy()
    # Bernoulli draws: the empirical rate is within 4 standard errors of the mean probability
    se = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(y.mean() - p.mean()) < 4 * se
    # and per decile of true probability too (calibration of the world itself)
    deciles = pd.qcut(p, 10, labels=False)
    for d in range(10):
        m = deciles == d
        se_d = np.sqrt((p[m] * (1 - p[m])).sum()) / m.sum()
        assert abs(y[m].mean() - p[m].mean()) < 5 * se_d


def test_no_event_from_the_future_and_cold_start_has_no_history(world):
    _, out = world
    events = pd.read_parquet(out / "raw" / "events.parquet")
    assert (events["ts"] < T_MS).all()
    truth = pd.read_parquet(out / "truth" / "customers_truth.parquet")
    customers = pd.read_parquet(out / "raw" / "customers.parquet")
    cold_ids = set(truth.loc[truth["cold_start"], "customer_id"])
    assert cold_ids, "the world must contain a cold-start cohort"
    assert not cold_ids & set(events["user_id"])
    assert customers.loc[customers["customer_id"].isin(cold_ids), "usage_hours_30d"].isna().all()


def test_referrers_signed_up_before_referees(world):
    _, out = world
    refs = pd.read_parquet(out / "raw" / "referrals.parquet")
    everyone = pd.concat(
        [pd.read_parquet(out / "raw" / "customers.parquet"), pd.read_parquet(out / "raw" / "former_customers.parquet")]
    )
    signup = everyone.set_index("customer_id")["signup_date"]
    assert len(refs) > 0
    assert (signup.reindex(refs["referrer_id"]).to_numpy() <= signup.reindex(refs["referee_id"]).to_numpy()).all()


def _digest(path) -> str:
    return hashlib.sha256(pd.read_parquet(path).to_csv(index=False).encode()).hexdigest()


def test_deterministic_by_seed(tmp_path):
    _, a = _world(tmp_path, seed=11, customers=3000)
    _, b = _world(tmp_path / "again", seed=11, customers=3000)
    _, c = _world(tmp_path, seed=12, customers=3000)
    for name in ("customers.parquet", "events.parquet", "referrals.parquet", "campaign.parquet"):
        assert _digest(a / "raw" / name) == _digest(b / "raw" / name)
    assert _digest(a / "raw" / "customers.parquet") != _digest(c / "raw" / "customers.parquet")


def test_contagion_only_moves_exposed_customers(tmp_path):
    """Same seed, churned-neighbour contagion on vs off (onboarding channel off in both): only
    customers whose neighbours churned before T change, and only upwards."""
    _, on = _world(tmp_path, seed=5, customers=5000, contagion_strength=1.5, referral_onboarding=0.0)
    _, off = _world(tmp_path, seed=5, customers=5000, contagion_strength=0.0, referral_onboarding=0.0)
    t_on = pd.read_parquet(on / "truth" / "customers_truth.parquet")
    t_off = pd.read_parquet(off / "truth" / "customers_truth.parquet")
    exposed = t_on["neighbour_exposure"].to_numpy() > 0
    assert exposed.sum() > 50
    np.testing.assert_allclose(t_on.loc[~exposed, "p_churn"], t_off.loc[~exposed, "p_churn"])
    assert (t_on.loc[exposed, "p_churn"].to_numpy() > t_off.loc[exposed, "p_churn"].to_numpy()).all()


def test_referral_onboarding_follows_the_active_referrers_engagement(tmp_path):
    """Onboarding channel alone: an engaged active referrer lowers a young customer's churn, a
    disengaged one raises it, the effect fades with tenure, and nobody else moves."""
    _, on = _world(
        tmp_path, seed=5, customers=5000, contagion_strength=1.0, referral_onboarding=0.5, onboarding_months=6
    )
    _, off = _world(tmp_path / "off", seed=5, customers=5000, contagion_strength=1.0, referral_onboarding=0.0)
    t_on = pd.read_parquet(on / "truth" / "customers_truth.parquet").set_index("customer_id")
    t_off = pd.read_parquet(off / "truth" / "customers_truth.parquet").set_index("customer_id")
    refs = pd.read_parquet(on / "raw" / "referrals.parquet").set_index("referee_id")["referrer_id"]
    customers = pd.read_parquet(on / "raw" / "customers.parquet").set_index("customer_id")
    referrer = refs.reindex(t_on.index)
    ref_engagement = t_on["engagement"].reindex(referrer.to_numpy()).to_numpy()  # NaN: none or not active
    supported = ~np.isnan(ref_engagement)
    assert supported.sum() > 100
    np.testing.assert_allclose(t_on.loc[~supported, "p_churn"], t_off.loc[~supported, "p_churn"])
    expected = 0.5 * np.exp(-customers["tenure_months"].reindex(t_on.index).to_numpy() / 6) * ref_engagement
    np.testing.assert_allclose(t_on["referral_onboarding"].to_numpy()[supported], expected[supported], atol=0.01)
    shift = np.log(t_on["p_churn"] / (1 - t_on["p_churn"])) - np.log(t_off["p_churn"] / (1 - t_off["p_churn"]))
    engaged = supported & (ref_engagement > 0.5)
    disengaged = supported & (ref_engagement < -0.5)
    assert (shift[engaged] < 0).all() and (shift[disengaged] > 0).all()
    young = customers["tenure_months"].reindex(t_on.index).to_numpy() < 3
    assert np.abs(shift[supported & young]).mean() > 3 * np.abs(shift[supported & ~young]).mean()


def test_zeroed_offer_has_no_effect(tmp_path):
    _, out = _world(
        tmp_path,
        seed=3,
        customers=3000,
        offer_effect_scale={
            "discount_10": 0.0,
            "discount_20": 1.0,
            "feature_upgrade": 1.0,
            "contract_upgrade": 1.0,
            "retention_call": 1.0,
        },
    )
    truth = pd.read_parquet(out / "truth" / "customers_truth.parquet")
    assert (truth["effect_discount_10"] == 0).all()
    assert (truth["effect_contract_upgrade"] > 0).any()


def test_fraudsters_look_churny_but_are_not(world):
    _, out = world
    truth = pd.read_parquet(out / "truth" / "customers_truth.parquet").set_index("customer_id")
    customers = pd.read_parquet(out / "raw" / "customers.parquet").set_index("customer_id")
    fraud = truth["is_fraud"]
    assert 0.005 < fraud.mean() < 0.05
    assert customers.loc[fraud, "support_tickets_90d"].mean() > 2 * customers.loc[~fraud, "support_tickets_90d"].mean()
    assert truth.loc[fraud, "p_churn"].mean() < truth.loc[~fraud, "p_churn"].mean()
