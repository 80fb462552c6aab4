"""From a scenario sweep to the plan that ships: candidates, off-policy check, decision, allocation.

One function for the DVC ``sweep`` stage and the nightly ``churnguard report``, so both ship the same
plan for the same inputs. Observable data only (the truth is never read here).

1. The candidate plans are built for the checked customers at their share of the budget: every
   customer on the out-of-fold estimates of a cross-fitted model (:mod:`churnguard.interventions.crossfit`),
   else the holdout customers on the model's own estimates.
2. Each is valued off-policy on those customers' randomized campaign (doubly robust, bootstrap).
3. The ship rule picks the uplift plan or the best baseline (``sweep.ship``).
4. The chosen policy is applied to every customer at the full budget: the allocation that ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from churnguard.core.vocabulary import ID, SPLIT
from churnguard.interventions.config import SweepConfig
from churnguard.interventions.ope import PlanEstimates, campaign_from_sweep, estimate_plans
from churnguard.interventions.policies import UPLIFT_PLAN, PlanInputs, build_plan, candidate_plans
from churnguard.interventions.shipping import ShipDecision, choose_plan
from churnguard.interventions.sweep import allocation_frame, budget_for

OUT_OF_FOLD, HOLDOUT = "out_of_fold", "holdout"


@dataclass(frozen=True)
class PlanningResult:
    allocation: pd.DataFrame  # the shipped plan, one row per customer
    decision: ShipDecision
    estimates: PlanEstimates | None  # None when there is no campaign to check on
    checked_ids: np.ndarray  # the customers the candidate plans were built and checked for
    checked_plans: dict[str, np.ndarray]
    checked_budget: float
    budget: float
    checked_on: str = HOLDOUT  # out_of_fold: every customer, cross-fitted estimates | holdout

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.decision.as_dict(),
            "checked_on": self.checked_on,
            "checked_budget": round(self.checked_budget, 2),
        }
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


def checked_inputs(table: pd.DataFrame, inp: PlanInputs) -> tuple[str, PlanInputs, np.ndarray]:
    """Which customers the candidate plans are checked on, with which estimates: every customer with
    the out-of-fold ones of a cross-fitted model, else the holdout with the model's own."""
    if "oof_uplift" in table.columns:
        return OUT_OF_FOLD, PlanInputs.from_sweep(table, prefix="oof_"), np.ones(len(inp.ids), dtype=bool)
    mask = _customer_split(table, inp.ids) == "holdout"
    return HOLDOUT, inp.subset(mask), mask


def _unchecked() -> ShipDecision:
    reason = "ships the uplift plan unchecked: no customers of the randomized campaign in every arm to check it on"
    return ShipDecision(UPLIFT_PLAN, "", float("nan"), reason)


def plan(table: pd.DataFrame, cfg: SweepConfig, seed: int, budget: float | None = None) -> PlanningResult:
    """The shipped plan for a sweep table (every customer x offer), with the evidence behind it."""
    ship = cfg.ship
    inp = PlanInputs.from_sweep(table)
    budget = budget_for(len(inp.ids), cfg) if budget is None else float(budget)
    scope, check, mask = checked_inputs(table, inp)
    check_budget = budget * mask.sum() / max(len(inp.ids), 1)
    plans = candidate_plans(check, check_budget, cfg, seed) if mask.any() else {}
    prefix = "oof_" if scope == OUT_OF_FOLD else ""
    campaign = campaign_from_sweep(table, check.ids, prefix) if mask.any() else None
    estimates = None
    if campaign is None or len(campaign.ids) == 0 or not np.isin(np.arange(len(inp.offers)), campaign.arm).all():
        decision = _unchecked()
    else:
        pos = np.searchsorted(check.ids, campaign.ids)
        estimates = estimate_plans(campaign, {n: p[pos] for n, p in plans.items()}, ship.level, ship.replicates, seed)
        decision = choose_plan(estimates, ship)
    choice = build_plan(decision.shipped, inp, budget, cfg, seed)
    allocation = allocation_frame(table, inp, choice)
    return PlanningResult(allocation, decision, estimates, check.ids, plans, check_budget, budget, scope)
