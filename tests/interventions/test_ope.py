"""Off-policy evaluation and the ship rule on a synthetic randomized experiment with known effects (pure logic)."""

from __future__ import annotations

import numpy as np
import pytest

from churnguard.interventions.allocation import NONE
from churnguard.interventions.ope import Campaign, estimate_plans, per_customer_value
from churnguard.interventions.shipping import ShipConfig, choose_plan

K = 3
PROPENSITY = np.array([0.7, 0.1, 0.1, 0.1])


def experiment(seed: int, n: int = 20_000, model_noise: float = 0.05):
    """Customers with a true churn probability per arm, a randomized arm, outcomes and a noisy model."""
    rng = np.random.default_rng(seed)
    p0 = rng.uniform(0.1, 0.6, n)
    rel = np.column_stack([rng.uniform(0, 0.4, n), np.full(n, 0.15), rng.uniform(0, 0.1, n)])
    p = np.column_stack([p0, p0[:, None] * (1 - rel)])
    arm = rng.choice(np.arange(-1, K), size=n, p=PROPENSITY)
    churned = (rng.random(n) < p[np.arange(n), arm + 1]).astype(float)
    mu = np.clip(p + rng.normal(0, model_noise, p.shape), 0.01, 0.99)
    value = rng.uniform(200, 1200, n)
    cost = np.tile([30.0, 20.0, 5.0], (n, 1))
    return Campaign(np.arange(n), arm, churned, PROPENSITY, mu, value, cost), p


def true_value(p: np.ndarray, c: Campaign, choice: np.ndarray) -> float:
    rows = np.nonzero(choice != NONE)[0]
    k = choice[rows]
    return float((c.value[rows] * (p[rows, 0] - p[rows, k + 1]) - c.cost[rows, k]).sum())


def plans_for(c: Campaign, p: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = len(c.ids)
    return {
        "good": np.where(c.value * (p[:, 0] - p[:, 1]) > 60, 0, NONE),
        "blanket_2": np.where(rng.random(n) < 0.3, 2, NONE),
        "random": np.where(rng.random(n) < 0.2, rng.integers(0, K, n), NONE),
        "no_offer": np.full(n, NONE),
    }


def test_doubly_robust_is_unbiased_even_with_a_wrong_model():
    c, p = experiment(0, model_noise=0.0)
    biased = Campaign(c.ids, c.arm, c.churned, c.propensity, np.clip(c.mu * 1.3, 0, 1), c.value, c.cost)
    choice = np.where(c.value > 700, 0, NONE)
    truth = true_value(p, c, choice)
    # average the estimator over many re-randomizations (arms and outcomes) of the same customers
    rng = np.random.default_rng(1)
    n, ests = len(c.ids), []
    for _ in range(400):
        arm = rng.choice(np.arange(-1, K), size=n, p=PROPENSITY)
        y = (rng.random(n) < p[np.arange(n), arm + 1]).astype(float)
        ests.append(per_customer_value(Campaign(c.ids, arm, y, c.propensity, biased.mu, c.value, c.cost), choice).sum())
    assert abs(np.mean(ests) - truth) < 0.05 * abs(truth), (np.mean(ests), truth)


def test_intervals_reach_nominal_coverage():
    hits, total = 0, 0
    for seed in range(30):
        c, p = experiment(seed, n=6000)
        plans = plans_for(c, p, np.random.default_rng(100 + seed))
        est = estimate_plans(c, plans, level=0.9, replicates=400, seed=seed)
        for name, choice in plans.items():
            if name == "no_offer":
                continue
            lo, hi = est.interval(name)
            hits += lo <= true_value(p, c, choice) <= hi
            total += 1
    print(f"OPE coverage on {total} synthetic (experiment, plan) pairs: {hits / total:.2f}")
    assert hits / total >= 0.83  # 90 % nominal; 90 pairs -> binomial sd 0.03


def test_no_offer_is_exactly_zero_and_paired_difference_is_consistent():
    c, p = experiment(3, n=4000)
    plans = plans_for(c, p, np.random.default_rng(3))
    est = estimate_plans(c, plans, level=0.9, replicates=300, seed=3)
    assert est.totals[est.names.index("no_offer")] == 0.0
    assert est.interval("no_offer") == (0.0, 0.0)
    d, lo, hi = est.difference("good", "blanket_2")
    assert lo <= d <= hi
    assert d == pytest.approx(est.totals[0] - est.totals[1])


def test_ship_rules_fall_back_only_on_evidence():
    c, p = experiment(5, n=20_000)
    rng = np.random.default_rng(5)
    good = plans_for(c, p, rng)["good"]
    bad = np.where(rng.random(len(c.ids)) < 0.3, 0, NONE)  # the expensive offer to random customers
    baseline = np.where(c.value * (p[:, 0] - p[:, 3]) > 5, 2, NONE)
    assert true_value(p, c, good) > true_value(p, c, baseline) > true_value(p, c, bad)
    for uplift, expect in ((good, "uplift_plan"), (bad, "risk_based")):
        est = estimate_plans(
            c, {"uplift_plan": uplift, "risk_based": baseline, "no_offer": np.full(len(c.ids), NONE)}, 0.9, 500, 0
        )
        for rule in ("not_worse", "better"):
            decision = choose_plan(est, ShipConfig(rule=rule, confidence=0.9))
            assert decision.shipped == expect, (rule, decision.reason)
            assert "bootstrap replicates" in decision.reason


def test_ship_config_rejects_unknown_keys_and_rules():
    with pytest.raises(ValueError, match="unknown key"):
        ShipConfig.from_params({"rulez": "better"})
    with pytest.raises(ValueError, match=r"sweep\.ship\.rule: .always. is not one of"):
        ShipConfig.from_params({"rule": "always"})
    assert ShipConfig.from_params({"baselines": ["risk_based"]}).baselines == ("risk_based",)
