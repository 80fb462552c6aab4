"""Words and numbers for the retention manager's scenario report (components/interventions/report.py).

Pure helpers: offer and plan names in words, money with the params' currency, percentages, the
glossary, the recommended budget read off a budget curve, and one-line reasons. No I/O.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

PLAN_WORDS = {
    "uplift_plan": "Targeted plan (customers the offer changes most)",
    "risk_based": "Highest churn risk first (best average offer)",
    "random": "Random customers",
    "no_offer": "No offers at all",
}
SEGMENT_WORDS = {
    "contract": "contract",
    "plan": "plan",
    "income_band": "income band",
    "monthly_charges_band": "monthly charges",
}
GLOSSARY = [
    (
        "Churn probability",
        "the churn model's chance that the customer leaves within the label window without any offer.",
    ),
    (
        "Uplift",
        "how many percentage points an offer lowers a customer's churn probability, learnt from the "
        "randomized campaign (customers given each offer at random, so the difference is caused by the offer).",
    ),
    (
        "Cautious uplift",
        "the low end of the uplift's confidence interval: an offer is planned only where even this is above zero.",
    ),
    ("Expected saved value", "uplift x what the customer is worth over the value horizon (monthly charges x months)."),
    ("Net value", "expected saved value minus the offer's cost; the plan maximises the total within the budget."),
    (
        "Qini curve",
        "customers sorted by predicted uplift; the curve shows how many churners the offer prevented "
        "among the first x% of them in the campaign, compared with customers who got no offer. Above zero and "
        "rising early: the ranking finds the customers who respond.",
    ),
    (
        "Off-policy estimate",
        "what a plan would have earned, estimated from the past randomized campaign alone "
        "(each customer's outcome re-weighted by the chance of the offer they actually got), with an interval "
        "from resampling customers.",
    ),
    (
        "Recommended budget",
        "the budget after which one more unit of budget brings back less than one unit of "
        "expected saved value (see 'How much budget is worth spending').",
    ),
]


def offer_words(offer: str) -> str:
    if offer == "none":
        return "No offer"
    m = re.fullmatch(r"discount_(\d+)", str(offer))
    if m:
        return f"{m.group(1)}% discount"
    return str(offer).replace("_", " ").capitalize()


def plan_words(name: str) -> str:
    if name.startswith("riskiest_"):
        return f"Highest churn risk first, all given {offer_words(name[len('riskiest_') :]).lower()}"
    return PLAN_WORDS.get(name, name.replace("_", " ").capitalize())


def money(value: float, currency: str) -> str:
    """EUR 1,234 for amounts of 100 and more, EUR 12.50 below; the sign in front."""
    if value != value:
        return "n/a"
    sign = "-" if value < 0 else ""
    v = abs(float(value))
    return f"{sign}{currency} {v:,.0f}" if v >= 100 else f"{sign}{currency} {v:,.2f}"


def percent(share: float) -> str:
    """A probability or share as a percentage: 64%, 4.2% below 10%, <0.1% for tiny non-zero shares."""
    if share != share:
        return "n/a"
    p = 100 * float(share)
    if 0 < abs(p) < 0.1:
        return "<0.1%"
    return f"{p:.0f}%" if abs(p) >= 10 else f"{p:.1f}%"


def points(fraction: float) -> str:
    """An uplift (fraction of probability) in percentage points."""
    return "n/a" if fraction != fraction else f"{100 * float(fraction):.1f} pts"


def churn_change(uplift: float) -> str:
    """An uplift as the change it makes to churn probability: 0.078 -> '-7.8 pts', -0.02 -> '+2.0 pts'."""
    return "n/a" if uplift != uplift else f"{-100 * float(uplift):+.1f} pts"


def recommended_budget(curve: pd.DataFrame) -> tuple[float, int | None]:
    """The budget worth spending, read off a budget curve (rows by rising ``budget``, with ``saved``).

    Definition: each step from one curve point to the next adds ``Δ budget`` and ``Δ saved`` (expected
    saved value of the plan at that budget). Its marginal return is ``Δ saved / Δ budget``. The
    recommended budget is the last point before the first step whose marginal return is below 1,
    i.e. where the next unit of budget would bring back less than it costs. Returns (budget, row
    index of the first step below 1, or None when every step of the curve still returns at least 1).
    """
    b = curve["budget"].to_numpy(dtype=float)
    saved = curve["saved"].to_numpy(dtype=float)
    ret = np.diff(saved) / np.maximum(np.diff(b), 1e-12)
    below = np.nonzero(ret < 1.0)[0]
    if not len(below):
        return float(b[-1]), None
    return float(b[below[0]]), int(below[0] + 1)


def strongest_driver(table: pd.DataFrame, offer: str) -> tuple[str, pd.Series] | None:
    """The customer attribute across whose values this offer's mean uplift differs most (largest range of
    group means, groups of at least 20 customers): (column, mean uplift per value)."""
    t = table[table["offer"] == offer]
    best: tuple[float, str, pd.Series] | None = None
    candidates = {c: t[c].astype(str) for c in ("contract", "plan", "income_band") if c in t.columns}
    if "monthly_charges" in t.columns and t["monthly_charges"].notna().sum() >= 80:
        q = pd.qcut(t["monthly_charges"], 4, duplicates="drop")
        candidates["monthly_charges_band"] = q.map(lambda iv: f"{iv.left:,.0f}-{iv.right:,.0f}").astype(str)
    for col, values in sorted(candidates.items()):
        groups = t["uplift"].groupby(values.to_numpy())
        means = groups.mean()[groups.size() >= 20]
        if len(means) >= 2 and (best is None or means.max() - means.min() > best[0] + 1e-12):
            best = (float(means.max() - means.min()), col, means.sort_index())
    return None if best is None else (best[1], best[2])


def action_reason(row: pd.Series, driver: tuple[str, pd.Series] | None, currency: str) -> str:
    """One line: risk, the offer's strongest driver where this customer sits, saved value for the cost."""
    parts = [f"churn risk {percent(row['churn_probability'])}"]
    if driver is not None:
        col, means = driver
        value = row.get("_driver_value")
        if value is not None and value in means.index and means[value] > 0:  # only a driver that helps here
            # the offer's strongest driver, where this customer sits on it
            parts.append(f"{SEGMENT_WORDS.get(col, col)} {value}: churn {churn_change(means[value])} on average")
    parts.append(
        f"here {churn_change(row['uplift'])}, saves {money(row['expected_saved_value'], currency)} "
        f"for {money(row['cost'], currency)}"
    )
    return "; ".join(parts)
