"""From a scenario sweep to the plan that ships: candidates, off-policy check, decision, allocation.

One function for the DVC ``sweep`` stage and the nightly ``churnguard report``, so both ship the same
plan for the same inputs. Observable data only (the truth is never read here).

1. The candidate plans are built for the holdout customers at the holdout's share of the budget.
2. Each is valued off-policy on the holdout's randomized campaign (doubly robust, bootstrap).
3. The ship rule picks the uplift plan or the best baseline (``sweep.ship``).
4. The chosen policy is applied to every customer at the full budget: the allocation that ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from churnguard.core.vocabulary import ID, SPLIT
from churnguard.interventions.ope import PlanEstimates, campaign_from_sweep, estimate_plans
from churnguard.interventions.policies import UPLIFT_PLAN, PlanInputs, build_plan, candidate_plans
from churnguard.interventions.shipping import ShipConfig, ShipDecision, choose_plan
from churnguard.interventions.sweep import allocation_frame, budget_for


@dataclass(frozen=True)
class PlanningResult:
    allocation: pd.DataFrame  # the shipped plan, one row per customer
    decision: ShipDecision
    estimates: PlanEstimates | None  # None when there is no holdout campaign to check on
    holdout_ids: np.ndarray
    holdout_plans: dict[str, np.ndarray]
    holdout_budget: float
    budget: float

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.decision.as_dict(), "holdout_budget": round(self.holdout_budget, 2)}
        if self.estimates is not None:
            out["off_policy"] = {
                "level": self.estimates.level,
                "replicates": len(self.estimates.replicates),
                "customers": int(self.estimates.customers),
                "plans": self.estimates.table(),
            }
        return out


def _customer_split(table: pd.DataFrame, ids: np.ndarray) -> np.ndarray:
    if SPLIT not in table.columns:
        return np.full(len(ids), "train", dtype=object)
    return table.drop_duplicates(ID).set_index(ID)[SPLIT].reindex(ids).to_numpy()


def plan(table: pd.DataFrame, cfg: dict[str, Any], seed: int, budget: float | None = None) -> PlanningResult:
    """The shipped plan for a sweep table (every customer x offer), with the evidence behind it."""
    ship = ShipConfig.from_params(cfg.get("ship"))
    inp = PlanInputs.from_sweep(table)
    budget = budget_for(len(inp.ids), cfg) if budget is None else float(budget)
    hold_mask = _customer_split(table, inp.ids) == "holdout"
    hold = inp.subset(hold_mask)
    hold_budget = budget * hold_mask.sum() / max(len(inp.ids), 1)
    hold_plans = candidate_plans(hold, hold_budget, cfg, seed) if hold_mask.any() else {}
    campaign = campaign_from_sweep(table, hold.ids) if hold_mask.any() else None
    if campaign is None or len(campaign.ids) == 0 or not np.isin(np.arange(len(inp.offers)), campaign.arm).all():
        decision = ShipDecision(
            UPLIFT_PLAN,
            "",
            float("nan"),
            "ships the uplift plan unchecked: no holdout "
            "customers of the randomized campaign in every arm to check it on",
        )
        estimates = None
    else:
        pos = np.searchsorted(hold.ids, campaign.ids)
        estimates = estimate_plans(
            campaign, {n: p[pos] for n, p in hold_plans.items()}, ship.level, ship.replicates, seed
        )
        decision = choose_plan(estimates, ship)
    choice = build_plan(decision.shipped, inp, budget, cfg, seed)
    return PlanningResult(
        allocation_frame(table, inp, choice), decision, estimates, hold.ids, hold_plans, hold_budget, budget
    )
