"""Unit tests of the threat bounds (pure logic, no workspace)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnguard.adversarial.bounds import FeatureBounds
from churnguard.adversarial.config import harden_config

CFG = {
    "seed": 0,
    "torch_threads": 1,
    "offer_share": 0.25,
    "budget": 1.0,
    "mutable_categorical": ["payment_method"],
    "mutable": {
        "support_tickets_90d": {"up": 3, "integer": True},
        "usage_hours_30d": {"rel_down": 0.5, "rel_up": 0.3},
        "cart_abandonment_rate": {"down": 0.3, "up": 0.3},
    },
}


def _train() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 500
    return pd.DataFrame(
        {
            "support_tickets_90d": rng.poisson(1, n),
            "usage_hours_30d": rng.lognormal(2.8, 0.5, n),
            "cart_abandonment_rate": rng.random(n),
            "age": rng.integers(18, 80, n),
            "payment_method": rng.choice(["card", "bank_transfer", "electronic_check"], n),
        }
    )


def _bounds(train: pd.DataFrame, budget: float = 1.0) -> FeatureBounds:
    return FeatureBounds.from_params(
        harden_config({**CFG, "budget": budget}),
        train,
        ["support_tickets_90d", "usage_hours_30d", "cart_abandonment_rate", "age"],
        ["payment_method"],
    )


def test_projection_always_lands_inside_the_box_and_ranges():
    train = _train()
    b = _bounds(train)
    x0 = train[b.mutable].to_numpy(float)
    wild = x0 + np.random.default_rng(1).normal(0, 50, x0.shape)
    x = b.project(x0, wild)
    low, high = b.box(x0)
    assert (x >= low - 1e-9).all() and (x <= high + 1e-9).all()
    assert (x[:, 0] == np.round(x[:, 0])).all(), "ticket counts must stay whole"
    assert (x[:, 0] - x0[:, 0] <= 3).all() and (x[:, 0] >= x0[:, 0]).all(), "tickets: at most +3, never down"
    assert (x[:, 1] >= 0.5 * x0[:, 1] - 1e-9).all() and (x[:, 1] <= 1.3 * x0[:, 1] + 1e-9).all()
    assert (x[:, 2] >= 0).all() and (x[:, 2] <= 1).all(), "a rate stays in [0, 1]"


def test_budget_scales_the_box():
    train = _train()
    x0 = train[_bounds(train).mutable].to_numpy(float)
    lo1, hi1 = _bounds(train, 1.0).box(x0)
    lo0, hi0 = _bounds(train, 0.0).box(x0)
    assert np.allclose(lo0, x0) and np.allclose(hi0, x0)
    assert (hi1 - lo1 >= 0).all() and (hi1 - lo1).sum() > 0


def test_violations_catch_every_kind_of_broken_rule():
    train = _train()
    b = _bounds(train)
    orig = train.head(20).reset_index(drop=True)
    assert b.violations(orig, orig.copy(), ["age"]) == {
        "immutable_changed": 0,
        "out_of_box": 0,
        "not_integer": 0,
        "invalid_category": 0,
    }
    bad = orig.copy()
    bad.loc[0, "age"] += 1
    bad.loc[1, "support_tickets_90d"] += 10
    bad["support_tickets_90d"] = bad["support_tickets_90d"].astype(float)
    bad.loc[2, "support_tickets_90d"] += 0.5
    bad.loc[3, "payment_method"] = "bitcoin"
    v = b.violations(orig, bad, ["age"])
    assert v["immutable_changed"] == 1 and v["out_of_box"] >= 1 and v["not_integer"] == 1 and v["invalid_category"] == 1
