"""Unit tests of the pure decision logic (no services)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnguard.interventions.allocation import NONE, allocate, greedy_by_score, rank_offers
from churnguard.interventions.counterfactual import ActionSpace
from churnguard.interventions.scenarios import Scenario, upgrade


@pytest.mark.parametrize("seed", range(25))
def test_budget_is_never_exceeded(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 400)), int(rng.integers(1, 6))
    net = rng.normal(0, 20, (n, k))
    cost = rng.uniform(0, 50, (n, k))
    cost[rng.random((n, k)) < 0.05] = 0.0
    budget = float(rng.uniform(0, cost.sum() / k))
    choice = allocate(net, cost, budget)
    given = choice != NONE
    assert cost[np.nonzero(given)[0], choice[given]].sum() <= budget + 1e-6
    assert (net[np.nonzero(given)[0], choice[given]] > 0).all()  # never an offer expected to lose money
    base = greedy_by_score(rng.random(n), rng.integers(0, k, n), cost, budget)
    g = base != NONE
    assert cost[np.nonzero(g)[0], base[g]].sum() <= budget + 1e-6


def test_allocation_prefers_value_and_respects_eligibility():
    net = np.array([[10.0, 50.0], [5.0, 1.0], [-1.0, -2.0]])
    cost = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    assert allocate(net, cost, 10.0).tolist() == [1, 0, NONE]
    assert allocate(net, cost, 1.0).tolist() == [1, NONE, NONE]
    eligible = np.array([[True, False], [True, True], [True, True]])
    assert allocate(net, cost, 10.0, eligible).tolist() == [0, 0, NONE]
    assert allocate(net, cost, 0.0).tolist() == [NONE, NONE, NONE]


def test_rank_offers():
    assert rank_offers(np.array([[1.0, 3.0, 2.0]])).tolist() == [[3, 1, 2]]


def test_scenario_cost_and_what_if():
    s = Scenario(
        "discount_20",
        "discount_20",
        fixed_cost=1.0,
        share_of_monthly=0.2,
        months=3,
        what_if={"monthly_charges_factor": 0.8, "contract": "upgrade"},
    )
    assert s.cost(np.array([100.0]))[0] == pytest.approx(61.0)
    f = pd.DataFrame({"monthly_charges": [100.0], "contract": ["two_year"], "campaign_offer": ["none"]})
    out = s.apply(f)
    assert out["monthly_charges"][0] == pytest.approx(80.0)
    assert out["contract"][0] == "two_year" and out["campaign_offer"][0] == "discount_20"
    assert upgrade(pd.Series(["month_to_month", "one_year"]), ["month_to_month", "one_year", "two_year"]).tolist() == [
        "one_year",
        "two_year",
    ]


def _space() -> ActionSpace:
    return ActionSpace(
        features=["contract", "campaign_offer", "region", "age", "monthly_charges"],
        categorical=["contract", "campaign_offer", "region"],
        numeric=["age", "monthly_charges"],
        decrease_caps={"monthly_charges": 0.2},
        ordered={"contract": ["month_to_month", "one_year", "two_year"]},
        free_values={"campaign_offer": ["discount_10", "retention_call"]},
    )


def test_projection_never_changes_immutables_or_breaks_the_action_space():
    space = _space()
    assert space.immutable == ["region", "age"]
    rng = np.random.default_rng(0)
    n = 200
    original = pd.DataFrame(
        {
            "contract": rng.choice(["month_to_month", "one_year", "two_year"], n),
            "campaign_offer": rng.choice(["none", "not_in_campaign"], n),
            "region": rng.choice(["n", "s"], n),
            "age": rng.integers(18, 80, n).astype(float),
            "monthly_charges": rng.uniform(20, 120, n).round(2),
        }
    )
    proposal = pd.DataFrame(
        {
            "contract": rng.choice(["month_to_month", "one_year", "two_year", "bogus"], n),
            "campaign_offer": rng.choice(["discount_10", "retention_call", "contract_upgrade"], n),
            "region": rng.choice(["n", "s", "e"], n),
            "age": rng.uniform(0, 100, n),
            "monthly_charges": rng.uniform(0, 200, n),
        }
    )
    out = space.project(original, proposal)
    assert (space.immutable_changes(original, out) == 0).all()
    assert (out["region"] == original["region"]).all() and (out["age"] == original["age"]).all()
    order = {v: i for i, v in enumerate(space.ordered["contract"])}
    assert all(order[b] >= order[a] for a, b in zip(original["contract"], out["contract"]))
    assert (out["monthly_charges"] <= original["monthly_charges"] + 1e-9).all()
    assert (out["monthly_charges"] >= original["monthly_charges"] * 0.8 - 0.01).all()
    assert set(out["campaign_offer"]) <= {"discount_10", "retention_call", "none", "not_in_campaign"}
    assert (space.immutable_changes(original, proposal) > 0).any()  # the check can fail
