"""The candidate offer plans, built from observable estimates only (one place for every consumer).

A plan gives each customer at most one offer (index into ``offers``, ``NONE`` = no offer) within a
budget. The sweep stage estimates each candidate's value off-policy on the randomized campaign
(:mod:`churnguard.interventions.ope`) and ships one; the evaluation stage values the same
candidates with the world's true effects. Candidates:

- ``uplift_plan``: the budget allocation on the causal uplift model's expected net values;
- ``risk_based``: highest predicted churn risk first, each given the one offer with the best
  average estimated net value (the simple baseline a retention team would use);
- ``riskiest_<offer>``: highest predicted risk first, everyone given that one offer;
- ``random``: random customers and offers (a floor, with a fixed seed);
- ``no_offer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from churnguard.core.vocabulary import ID
from churnguard.interventions.allocation import NONE, allocate, greedy_by_score
from churnguard.interventions.config import SweepConfig
from churnguard.interventions.sweep import wide

UPLIFT_PLAN, RISK_BASED, NO_OFFER, RANDOM = "uplift_plan", "risk_based", "no_offer", "random"


@dataclass(frozen=True)
class PlanInputs:
    """Per customer (sorted by id) and offer: the observable numbers a plan is built from."""

    ids: np.ndarray
    offers: list[str]
    net: np.ndarray  # (n, K) expected net value (uplift x customer value - cost)
    cost: np.ndarray  # (n, K)
    uplift: np.ndarray  # (n, K) estimated churn-probability reduction
    uplift_low: np.ndarray  # (n, K) lower end of the uplift interval
    value: np.ndarray  # (n,) value of keeping the customer
    risk: np.ndarray  # (n,) predicted churn probability without an offer (pre-treatment)

    @classmethod
    def from_sweep(cls, table: pd.DataFrame, prefix: str = "") -> PlanInputs:
        """The plan inputs of a sweep table: the full model's estimates, or with ``prefix="oof_"`` the
        cross-fitted out-of-fold ones (every customer valued by models that never saw its outcome)."""
        offers = sorted(table["offer"].unique())
        ids = np.sort(table[ID].unique())
        value = np.nan_to_num(wide(table, "customer_value", offers)[:, 0])
        cost = wide(table, "cost", offers)
        uplift = wide(table, f"{prefix}uplift", offers)
        net = wide(table, "net_value", offers) if not prefix else uplift * value[:, None] - cost
        # Risk WITHOUT an offer (the uplift model's control probability), never the base model's score:
        # that one reads the campaign offer each customer actually got, so a plan built on it depends on
        # the randomized arm itself (customers who got an offer look less risky and drop out of "the
        # riskiest"), which no plan for the future may do and which biases the off-policy estimate.
        risk = wide(table, f"{prefix}p_before", offers)[:, 0]
        return cls(ids, offers, net, cost, uplift, wide(table, f"{prefix}uplift_low", offers), value, risk)

    def subset(self, mask: np.ndarray) -> PlanInputs:
        return PlanInputs(
            self.ids[mask],
            self.offers,
            self.net[mask],
            self.cost[mask],
            self.uplift[mask],
            self.uplift_low[mask],
            self.value[mask],
            self.risk[mask],
        )

    def pessimistic_net(self, pessimism: float) -> np.ndarray:
        """Net value with the uplift moved ``pessimism`` of the way to its interval's lower end
        (0: the point estimate; 1: the lower bound). Allocating on it keeps the plan from piling onto
        offers whose estimated effect is large only by the luck of a small campaign arm."""
        return self.net - float(pessimism) * (self.uplift - self.uplift_low) * self.value[:, None]


def uplift_plan(
    inp: PlanInputs, budget: float, require_confident_uplift: bool = True, pessimism: float = 0.0
) -> np.ndarray:
    eligible = inp.uplift_low > 0 if require_confident_uplift else None
    return allocate(inp.pessimistic_net(pessimism), inp.cost, budget, eligible)


def best_average_offer(inp: PlanInputs) -> int:
    """The offer with the best mean estimated net value: what risk-based targeting hands out."""
    return int(np.argmax(np.nanmean(inp.net, axis=0)))


def riskiest_first(inp: PlanInputs, offer: int, budget: float) -> np.ndarray:
    return greedy_by_score(inp.risk, np.full(len(inp.ids), offer), inp.cost, budget)


def _random_plan(inp: PlanInputs, budget: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = len(inp.ids)
    return greedy_by_score(rng.random(n), rng.integers(0, len(inp.offers), n), inp.cost, budget)


def plan_builders(inp: PlanInputs, budget: float, cfg: SweepConfig, seed: int) -> dict[str, Any]:
    """Candidate name -> a function building that plan for these customers at this budget."""
    builders = {
        UPLIFT_PLAN: lambda: uplift_plan(inp, budget, cfg.require_confident_uplift, cfg.pessimism),
        RISK_BASED: lambda: riskiest_first(inp, best_average_offer(inp), budget),
    }
    for k, offer in enumerate(inp.offers):
        builders[f"riskiest_{offer}"] = partial(riskiest_first, inp, k, budget)
    builders[RANDOM] = lambda: _random_plan(inp, budget, seed)
    builders[NO_OFFER] = lambda: np.full(len(inp.ids), NONE)
    return builders


def candidate_plans(inp: PlanInputs, budget: float, cfg: SweepConfig, seed: int) -> dict[str, np.ndarray]:
    """Every candidate plan for these customers at this budget (see the module docstring)."""
    return {name: build() for name, build in plan_builders(inp, budget, cfg, seed).items()}


def build_plan(name: str, inp: PlanInputs, budget: float, cfg: SweepConfig, seed: int) -> np.ndarray:
    """One candidate plan (the one that ships) without building the others."""
    return plan_builders(inp, budget, cfg, seed)[name]()


def plan_cost(choice: np.ndarray, cost: np.ndarray) -> float:
    r = np.nonzero(choice != NONE)[0]
    return float(cost[r, choice[r]].sum())
