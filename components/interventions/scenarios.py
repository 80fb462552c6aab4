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
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from churnguard.interventions.config import ScenarioConfig

CONTRACT_ORDER = ["month_to_month", "one_year", "two_year"]
PLAN_ORDER = ["basic", "standard", "premium"]
UPGRADE_ORDERS = {"contract": CONTRACT_ORDER, "plan": PLAN_ORDER}


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

    def edits(self) -> list[tuple[str, Callable[[pd.Series], pd.Series]]]:
        """The what-if as (column, new values from old) pairs: the one definition both the frame path
        (:meth:`apply`) and the encoded fast path of the interventions part use."""
        out: list[tuple[str, Callable[[pd.Series], pd.Series]]] = [
            ("campaign_offer", lambda v: pd.Series(self.offer, index=v.index, dtype=object))
        ]
        factor = self.what_if.get("monthly_charges_factor")
        if factor is not None:
            out.append(("monthly_charges", lambda v: v.astype(float) * float(factor)))
        for col, order in UPGRADE_ORDERS.items():
            if self.what_if.get(col) == "upgrade":
                out.append((col, partial(upgrade, order=order)))
        return out

    def apply(self, features: pd.DataFrame) -> pd.DataFrame:
        """The feature rows as they would look under this offer (model-based what-if)."""
        out = features.copy()
        for col, edit in self.edits():
            if col in out.columns:
                out[col] = edit(out[col])
        return out


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
