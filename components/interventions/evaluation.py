"""Holdout evaluation of the offer plans against the synthetic world's truth (evaluation only).

The stage reads the truth and passes it in; nothing here feeds back into a model or a decision.
The candidate plans are the ones the sweep stage built and valued off-policy (every customer on the
cross-fitted model's out-of-fold estimates, or the holdout: ``data/sweep/candidate_plans.parquet``,
``summary.json``); here each is valued with the TRUE effects
at the same budget: value = sum over treated customers of (true churn reduction x value - cost).
``oracle`` is the same allocator on the true effects. Also: whether each off-policy interval holds
the plan's true value (over the established customers the estimate is about), and the uplift
model's ranking and interval quality per offer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnguard.core.vocabulary import ID, SPLIT
from churnguard.interventions.allocation import NONE, allocate
from churnguard.interventions.sweep import wide


def _value(choice: np.ndarray, effect: np.ndarray, value: np.ndarray, cost: np.ndarray) -> float:
    r = np.nonzero(choice != NONE)[0]
    return float((effect[r, choice[r]] * value[r] - cost[r, choice[r]]).sum())


def qini_coefficient(pred: np.ndarray, true_effect: np.ndarray) -> float:
    """Area between the model's cumulative-true-gain curve and random, over the same for a perfect ranking."""
    n = len(pred)
    if n == 0:
        return float("nan")
    base = np.arange(1, n + 1) / n * true_effect.sum()
    model = np.cumsum(true_effect[np.argsort(-pred, kind="stable")]) - base
    best = np.cumsum(np.sort(true_effect)[::-1]) - base
    return float(model.sum() / best.sum()) if best.sum() > 0 else float("nan")


def uplift_at_k(pred: np.ndarray, true_effect: np.ndarray, k: float) -> float:
    """Mean true effect among the top k share by predicted uplift, over the mean true effect."""
    top = np.argsort(-pred, kind="stable")[: max(1, int(round(k * len(pred))))]
    m = true_effect.mean()
    return float(true_effect[top].mean() / m) if m > 0 else float("nan")


def _decile_coverage(pred: np.ndarray, lo: np.ndarray, hi: np.ndarray, true_effect: np.ndarray) -> float:
    """Share of the 10 deciles of predicted uplift whose MEAN true effect lies within the decile's mean
    interval: the interval as a statement about customers like these (the conditional average effect),
    which a model of observable features can be calibrated for, unlike each customer's own effect."""
    if len(pred) < 10:
        return float("nan")
    groups = np.array_split(np.argsort(pred, kind="stable"), 10)
    hits = [lo[g].mean() <= true_effect[g].mean() <= hi[g].mean() for g in groups]
    return float(np.mean(hits))


def plan_choices(plans: pd.DataFrame, offers: list[str], ids: np.ndarray) -> dict[str, np.ndarray]:
    """Offer index per customer (aligned to ``ids``) of each saved plan column."""
    col = {o: k for k, o in enumerate(offers)}
    frame = plans.set_index(ID).reindex(ids)
    return {name: frame[name].map(lambda o: col.get(o, NONE)).to_numpy(dtype=np.int64) for name in frame.columns}


def _off_policy_check(true_est: dict[str, float], ope: dict[str, Any], oracle: float) -> dict[str, Any]:
    """Does each plan's off-policy interval contain its true value (established holdout customers)?"""
    plans = (ope or {}).get("plans") or {}
    checked = {
        n: {
            "true": round(true_est[n], 2),
            "estimate": round(v["estimate"], 2),
            "low": round(v["low"], 2),
            "high": round(v["high"], 2),
            "covered": bool(v["low"] <= true_est[n] <= v["high"]),
        }
        for n, v in plans.items()
        if n in true_est and n != "no_offer"
    }
    if not checked:
        return {"note": "no off-policy estimates in the sweep summary"}
    errors = [abs(c["estimate"] - c["true"]) for c in checked.values()]
    return {
        "coverage": float(np.mean([c["covered"] for c in checked.values()])),
        "plans_checked": len(checked),
        "mean_abs_error_over_oracle": float(np.mean(errors) / oracle) if oracle else float("nan"),
        "plans": checked,
    }


def _per_offer_quality(hold: pd.DataFrame, offers: list[str], effect: np.ndarray, prefix: str) -> dict[str, Any]:
    uplift = wide(hold, f"{prefix}uplift", offers)
    per_offer = {}
    for k, o in enumerate(offers):
        ok = np.isfinite(uplift[:, k])
        e, u = effect[ok, k], uplift[ok, k]
        lo, hi = wide(hold, f"{prefix}uplift_low", offers)[ok, k], wide(hold, f"{prefix}uplift_high", offers)[ok, k]
        entry = {
            "qini_coefficient": qini_coefficient(u, e),
            "uplift_at_10pct": uplift_at_k(u, e, 0.1),
            "uplift_at_30pct": uplift_at_k(u, e, 0.3),
            "mean_estimated_uplift": float(u.mean()),
            "mean_true_effect": float(e.mean()),
            "rmse": float(np.sqrt(np.mean((u - e) ** 2))),
            "correlation": float(np.corrcoef(u, e)[0, 1]) if e.std() > 0 and u.std() > 0 else float("nan"),
            "interval_coverage": float(((lo <= e) & (e <= hi)).mean()),
            "interval_coverage_decile_means": _decile_coverage(u, lo, hi, e),
            "interval_covers_offer_mean": bool(lo.mean() <= e.mean() <= hi.mean()),
            "mean_interval_width": float((hi - lo).mean()),
            "share_confident_positive": float((lo > 0).mean()),
        }
        if "whatif_uplift" in hold.columns:
            w = wide(hold, "whatif_uplift", offers)[ok, k]
            entry["whatif_qini_coefficient"] = qini_coefficient(w, e)
            entry["whatif_correlation"] = (
                float(np.corrcoef(w, e)[0, 1]) if e.std() > 0 and w.std() > 0 else float("nan")
            )
        per_offer[o] = entry
    return per_offer


def evaluate_policies(
    table: pd.DataFrame, truth: pd.DataFrame, plans: pd.DataFrame, planning: dict[str, Any]
) -> dict[str, Any]:
    """True value of every candidate plan on the holdout, the shipped one, and the off-policy check.

    ``truth``: ``effect_<offer>`` indexed by customer id; ``plans``: the sweep's holdout plans (one
    column per candidate, offer names); ``planning``: the sweep summary (decision, off-policy estimates).
    """
    out_of_fold = planning.get("checked_on") == "out_of_fold"
    prefix = "oof_" if out_of_fold else ""
    hold = table if out_of_fold or SPLIT not in table.columns else table[table[SPLIT] == "holdout"]
    offers = sorted(hold["offer"].unique())
    ids = np.sort(hold[ID].unique())
    effect = np.stack([truth[f"effect_{o}"].reindex(ids).to_numpy(dtype=float) for o in offers], axis=1)
    cust = hold.drop_duplicates(ID).set_index(ID).reindex(ids)
    value = np.nan_to_num(wide(hold, "customer_value", offers)[:, 0])
    cost = wide(hold, "cost", offers)
    budget = float(planning["checked_budget"])
    choices = plan_choices(plans, offers, ids)
    choices["oracle"] = allocate(effect * value[:, None] - cost, cost, budget)
    values = {n: _value(ch, effect, value, cost) for n, ch in choices.items()}
    established = (
        ~cust["is_cold_start"].astype(bool).to_numpy() if "is_cold_start" in cust.columns else np.ones(len(ids), bool)
    )
    true_est = {n: _value(np.where(established, ch, NONE), effect, value, cost) for n, ch in choices.items()}
    shipped = planning["shipped_policy"]
    values["shipped"], choices["shipped"] = values[shipped], choices[shipped]
    oracle = values["oracle"]
    ratio = {k: round(v / oracle, 4) if oracle else float("nan") for k, v in values.items()}
    per_offer = _per_offer_quality(hold, offers, effect, prefix)
    return {
        "checked_on": planning.get("checked_on", "holdout"),
        "customers": len(ids),
        "budget": round(budget, 2),
        "shipped_policy": shipped,
        "decision": planning.get("reason", ""),
        "policy_value": {k: round(v, 2) for k, v in values.items()},
        "spent": {
            n: round(float(cost[np.nonzero(ch != NONE)[0], ch[ch != NONE]].sum()), 2) for n, ch in choices.items()
        },
        "ratio_to_oracle": ratio,
        "shipped_at_least_risk_based": bool(values["shipped"] >= values["risk_based"] - 1e-6),
        "uplift_plan_beats_risk_based": bool(values["uplift_plan"] > values["risk_based"]),
        "offers_given": {
            n: {o: int((choices[n] == k).sum()) for k, o in enumerate(offers)}
            for n in ("shipped", "uplift_plan", "oracle")
        },
        "off_policy": _off_policy_check(true_est, planning.get("off_policy") or {}, true_est["oracle"]),
        **_ranking_quality(hold, offers, effect, value, cost, prefix, per_offer),
        "per_offer": per_offer,
    }


def _ranking_quality(
    hold: pd.DataFrame,
    offers: list[str],
    effect: np.ndarray,
    value: np.ndarray,
    cost: np.ndarray,
    prefix: str,
    per_offer: dict[str, Any],
) -> dict[str, float]:
    """How well the estimated uplift ranks customers (Qini per offer and pooled on each customer's best
    offer by value) and how often its intervals hold the true offer and decile means."""
    r = np.arange(len(value))
    estimated = wide(hold, f"{prefix}uplift", offers)
    net = estimated * value[:, None] - cost
    best = np.argmax(np.where(np.isfinite(net), net, -np.inf), axis=1)
    quality = [per_offer[o] for o in per_offer]
    return {
        "qini_coefficient_mean": float(np.nanmean([v["qini_coefficient"] for v in quality])),
        "qini_coefficient_value_pooled": qini_coefficient(estimated[r, best] * value, effect[r, best] * value),
        "uplift_at_10pct_mean": float(np.nanmean([v["uplift_at_10pct"] for v in quality])),
        "interval_coverage_offer_means": float(np.mean([v["interval_covers_offer_mean"] for v in quality])),
        "interval_coverage_decile_means": float(np.nanmean([v["interval_coverage_decile_means"] for v in quality])),
    }
