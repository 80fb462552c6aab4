"""Off-policy evaluation of offer plans on the randomized campaign: observable data only.

At the observation date every established customer was randomly assigned an arm: ``none`` (the
campaign's control arm and everyone outside the campaign: assignment to the campaign was random too)
or one offer. So the value of ANY plan can be estimated from outcomes, without the truth, on
customers the uplift model never saw (the holdout split):

    value(plan) = sum_i  v_i * (Y_i(none) - Y_i(plan_i)) - cost_i(plan_i)

where Y_i(a) is "churned under arm a". The doubly-robust estimator (Dudik, Langford & Li 2011)
replaces each unobserved Y_i(a) by the model's churn probability ``mu_a(x_i)`` and corrects it with
the observed outcome where the customer really got arm ``a``, weighted by ``1 / P(arm a)``:

    Yhat_i(a) = mu_a(x_i) + 1[A_i = a] / p_a * (Y_i - mu_a(x_i))

It is unbiased whatever the model's quality (the model only lowers the variance), because the
propensities ``p_a`` are the experiment's own (the observed arm shares among established customers).
Intervals: percentile intervals of a Poisson bootstrap over customers; the difference of two plans is
bootstrapped paired (same resamples), so customers both plans treat alike cancel out.

Why this estimator and not a library: CausalML / EconML / scikit-uplift score uplift *models*
(Qini, AUUC) or fit policy learners; none values an arbitrary budgeted multi-offer plan with a
paired interval. The estimator is a few lines of numpy, vectorised over plans and resamples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnguard.core.vocabulary import CONTROL_ARMS, ID, LABEL
from churnguard.interventions.allocation import NONE
from churnguard.interventions.sweep import wide


@dataclass(frozen=True)
class Campaign:
    """The randomized experiment seen by one set of customers (sorted by id, established only)."""

    ids: np.ndarray
    arm: np.ndarray  # (n,) NONE or the index of the offer received
    churned: np.ndarray  # (n,) observed outcome (0/1)
    propensity: np.ndarray  # (K + 1,) P(arm) for [none, offer_0, ..., offer_K-1]
    mu: np.ndarray  # (n, K + 1) model churn probability under [none, offer_0, ...]
    value: np.ndarray  # (n,) value of keeping the customer
    cost: np.ndarray  # (n, K)


def arm_index(campaign_offer: pd.Series, offers: list[str]) -> np.ndarray:
    """NONE for the control arms, the offer's index otherwise; an unknown arm is an error."""
    col = {o: k for k, o in enumerate(offers)}
    values = campaign_offer.astype(str)
    unknown = sorted(set(values) - set(col) - set(CONTROL_ARMS))
    if unknown:
        raise ValueError(f"campaign_offer holds arms {unknown} that are neither an offer {offers} nor a control arm")
    return values.map(lambda v: col.get(v, NONE)).to_numpy(dtype=np.int64)


def campaign_from_sweep(table: pd.DataFrame, mask_ids: np.ndarray | None = None, prefix: str = "") -> Campaign:
    """The campaign among the sweep table's established customers (optionally only ``mask_ids``).

    Propensities come from the arm shares among all established customers of the table (the
    design is the same for both splits); the estimate uses only the customers in ``mask_ids``. The
    outcome model is the sweep's estimates, or with ``prefix="oof_"`` the out-of-fold ones.
    """
    offers = sorted(table["offer"].unique())
    cust = table.drop_duplicates(ID).set_index(ID).sort_index()
    established = (
        ~cust["is_cold_start"].astype(bool).to_numpy() if "is_cold_start" in cust.columns else np.ones(len(cust), bool)
    )
    arm = arm_index(cust["campaign_offer"], offers)
    shares = np.array(
        [np.mean(arm[established] == NONE)] + [np.mean(arm[established] == k) for k in range(len(offers))]
    )
    # pandas' hash-based isin: np.isin on object (string id) arrays compares element by element, which
    # at 1M customers x 200k checked ids ran for hours (issue #21)
    keep = established & (cust.index.isin(mask_ids) if mask_ids is not None else True)
    p_after = wide(table, f"{prefix}p_after", offers)
    mu = np.column_stack([cust[f"{prefix}p_before"].to_numpy(dtype=float), p_after])
    return Campaign(
        cust.index.to_numpy()[keep],
        arm[keep],
        cust[LABEL].to_numpy(dtype=float)[keep],
        shares,
        mu[keep],
        wide(table, "customer_value", offers)[keep, 0],
        wide(table, "cost", offers)[keep],
    )


def doubly_robust_outcomes(c: Campaign) -> np.ndarray:
    """(n, K + 1) estimated churn under each arm: the model, corrected where the arm was observed."""
    observed = np.zeros_like(c.mu)
    observed[np.arange(len(c.arm)), c.arm + 1] = 1.0
    return c.mu + observed / c.propensity[None, :] * (c.churned[:, None] - c.mu)


def per_customer_value(c: Campaign, choice: np.ndarray, yhat: np.ndarray | None = None) -> np.ndarray:
    """(n,) each customer's estimated contribution to a plan's value (0 where the plan gives nothing)."""
    yhat = doubly_robust_outcomes(c) if yhat is None else yhat
    given = choice != NONE
    k = np.where(given, choice, 0)
    rows = np.arange(len(choice))
    saved = yhat[rows, 0] - yhat[rows, k + 1]
    return np.where(given, c.value * saved - c.cost[rows, k], 0.0)


def poisson_bootstrap_sums(
    terms: np.ndarray, replicates: int, seed: int, chunk: int = 200, max_cells: int = 20_000_000
) -> np.ndarray:
    """(replicates, P) totals of ``terms`` (n, P) under Poisson(1) resampling weights of the rows.

    The weights are drawn ``chunk`` replicates at a time, fewer where that would exceed ``max_cells``
    weights (80 MB): at 1M checked customers 200 x 1M weights would take 800 MB."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(chunk, max_cells // max(terms.shape[0], 1)))
    out = np.empty((replicates, terms.shape[1]))
    for start in range(0, replicates, chunk):
        b = min(chunk, replicates - start)
        w = rng.poisson(1.0, size=(b, terms.shape[0])).astype(np.float32)
        out[start : start + b] = w @ terms.astype(np.float32)
    return out


@dataclass(frozen=True)
class PlanEstimates:
    """Off-policy estimates of several plans with their paired bootstrap replicates."""

    names: list[str]
    totals: np.ndarray  # (P,) estimated value of each plan
    replicates: np.ndarray  # (B, P) the same under the bootstrap
    treated: np.ndarray  # (P,) customers each plan treats (in the evaluated set)
    level: float
    customers: int  # customers the estimate is over

    def interval(self, name: str) -> tuple[float, float]:
        a = (1 - self.level) / 2
        lo, hi = np.quantile(self.replicates[:, self.names.index(name)], [a, 1 - a])
        return float(lo), float(hi)

    def difference(self, name: str, other: str) -> tuple[float, float, float]:
        """Estimate and interval of value(name) - value(other), paired."""
        i, j = self.names.index(name), self.names.index(other)
        a = (1 - self.level) / 2
        lo, hi = np.quantile(self.replicates[:, i] - self.replicates[:, j], [a, 1 - a])
        return float(self.totals[i] - self.totals[j]), float(lo), float(hi)

    def probability_better(self, name: str, other: str) -> float:
        """Share of bootstrap replicates in which ``name`` is worth more than ``other``."""
        i, j = self.names.index(name), self.names.index(other)
        return float(np.mean(self.replicates[:, i] > self.replicates[:, j]))

    def table(self) -> dict[str, dict[str, float]]:
        a = (1 - self.level) / 2
        lo, hi = np.quantile(self.replicates, [a, 1 - a], axis=0)
        return {
            n: {
                "estimate": float(self.totals[k]),
                "low": float(lo[k]),
                "high": float(hi[k]),
                "customers_treated": int(self.treated[k]),
            }
            for k, n in enumerate(self.names)
        }


def estimate_plans(
    c: Campaign, plans: dict[str, np.ndarray], level: float, replicates: int, seed: int
) -> PlanEstimates:
    """Doubly-robust estimate and paired bootstrap of every plan (choices aligned to ``c.ids``)."""
    names = list(plans)
    yhat = doubly_robust_outcomes(c)
    terms = np.column_stack([per_customer_value(c, plans[n], yhat) for n in names])
    return PlanEstimates(
        names,
        terms.sum(axis=0),
        poisson_bootstrap_sums(terms, replicates, seed),
        np.array([(plans[n] != NONE).sum() for n in names]),
        float(level),
        len(c.ids),
    )
