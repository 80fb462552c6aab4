"""Intervention scenarios declared in params (``fit_counterfactual.scenarios``) and their cost model.

A scenario is one retention offer of the randomized campaign (``churnguard.world.OFFERS``) with
- a cost model: ``fixed + share_of_monthly * monthly_charges * months`` (currency units per customer
  offered; paid whether or not the customer stays, which keeps the budget a hard bound);
- a model-based what-if: how the offer changes the customer's feature row (a discount lowers
  ``monthly_charges``, an upgrade moves ``contract`` / ``plan`` one step up); the campaign offer
  column is set to the offer as well.
Customer value (what a saved customer is worth) = ``monthly_charges * customer_value_months``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnguard.interventions.config import ScenarioConfig

CONTRACT_ORDER = ["month_to_month", "one_year", "two_year"]
PLAN_ORDER = ["basic", "standard", "premium"]


@dataclass(frozen=True)
class Scenario:
    name: str
    offer: str
    fixed_cost: float = 0.0
    share_of_monthly: float = 0.0
    months: float = 0.0
    what_if: dict[str, Any] = field(default_factory=dict)

    def cost(self, monthly_charges: np.ndarray) -> np.ndarray:
        m = np.nan_to_num(np.asarray(monthly_charges, dtype=float), nan=0.0)
        return self.fixed_cost + self.share_of_monthly * m * self.months

    def apply(self, features: pd.DataFrame) -> pd.DataFrame:
        """The feature rows as they would look under this offer (model-based what-if)."""
        out = features.copy()
        if "campaign_offer" in out.columns:
            out["campaign_offer"] = self.offer
        factor = self.what_if.get("monthly_charges_factor")
        if factor is not None and "monthly_charges" in out.columns:
            out["monthly_charges"] = out["monthly_charges"].astype(float) * float(factor)
        for col, order in (("contract", CONTRACT_ORDER), ("plan", PLAN_ORDER)):
            if self.what_if.get(col) == "upgrade" and col in out.columns:
                out[col] = upgrade(out[col], order)
        return out


UPGRADE_ORDERS = {"contract": CONTRACT_ORDER, "plan": PLAN_ORDER}


def ceilings(scenarios: list[Scenario]) -> dict[str, tuple[str, list[str]]]:
    """Offer -> (column, order) for each scenario whose what-if upgrades a column: at the top of that
    order the offer changes nothing, so it can have no effect there."""
    out = {}
    for s in scenarios:
        ups = [c for c in UPGRADE_ORDERS if s.what_if.get(c) == "upgrade"]
        if len(ups) == 1:
            out[s.offer] = (ups[0], UPGRADE_ORDERS[ups[0]])
    return out


def upgrade(values: pd.Series, order: list[str]) -> pd.Series:
    """One step up an ordered category (the top stays; unknown values stay)."""
    pos = {v: i for i, v in enumerate(order)}
    return values.map(lambda v: order[min(pos[v] + 1, len(order) - 1)] if v in pos else v)


def load_scenarios(scenarios: dict[str, ScenarioConfig]) -> list[Scenario]:
    """Scenarios from ``fit_counterfactual.scenarios`` (name -> typed spec), in declaration order; a
    scenario's campaign offer is its name unless ``offer`` says otherwise."""
    out = [
        Scenario(
            name=name,
            offer=spec.offer or name,
            fixed_cost=spec.cost.fixed,
            share_of_monthly=spec.cost.share_of_monthly,
            months=spec.cost.months,
            what_if={k: v for k, v in dataclasses.asdict(spec.what_if).items() if v is not None},
        )
        for name, spec in scenarios.items()
    ]
    if not out:
        raise ValueError("fit_counterfactual.scenarios declares no scenario")
    return out


def customer_value(monthly_charges: np.ndarray, months: float) -> np.ndarray:
    """What keeping a customer is worth: monthly charges over the value horizon."""
    return np.nan_to_num(np.asarray(monthly_charges, dtype=float), nan=0.0) * float(months)
