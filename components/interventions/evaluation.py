"""Holdout evaluation of the intervention policy against the synthetic world's truth.

Evaluation code only: the truth is read through ``components.truth`` and nothing here feeds back
into a model. Every policy is valued with the TRUE effects at the SAME budget:
value = sum over treated customers of (true churn reduction x customer value - cost).
- ``ours``: the budget allocation on the causal uplift model's estimates;
- ``risk``: highest predicted churn risk first (the champion's base model), each given the one offer
  with the best average estimated net value, until the budget is spent;
- ``random``: random customers, random offers, until the budget is spent;
- ``oracle``: the same allocation as ours but on the true effects.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from components.features.table import ID, SPLIT
from components.interventions.allocation import NONE, allocate, greedy_by_score
from components.interventions.sweep import allocate_sweep, budget_for, wide
from components.truth import has_truth, load_truth


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
    top = np.argsort(-pred, kind="stable")[:max(1, int(round(k * len(pred))))]
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


def evaluate_policies(table: pd.DataFrame, truth_dir: Path, cfg: dict[str, Any], seed: int) -> dict[str, Any]:
    """Policy values on the holdout rows of a sweep table (``split == holdout``)."""
    if not has_truth(truth_dir):
        return {"note": "no ground truth for this data source: policy values against the truth are not available"}
    hold = table[table[SPLIT] == "holdout"] if SPLIT in table.columns else table
    offers = sorted(hold["offer"].unique())
    ids = np.sort(hold[ID].unique())
    truth = load_truth(truth_dir, [ID, *[f"effect_{o}" for o in offers]]).reindex(ids)
    effect = np.stack([truth[f"effect_{o}"].to_numpy(dtype=float) for o in offers], axis=1)
    cust = hold.drop_duplicates(ID).set_index(ID).reindex(ids)
    value = np.nan_to_num(wide(hold, "customer_value", offers)[:, 0])
    cost = wide(hold, "cost", offers)
    uplift, net = wide(hold, "uplift", offers), wide(hold, "net_value", offers)
    budget = budget_for(len(ids), cfg)
    alloc = allocate_sweep(hold, cfg, budget=budget).set_index(ID).reindex(ids)
    col = {o: k for k, o in enumerate(offers)}
    ours = np.array([col.get(o, NONE) for o in alloc["offer"]])
    oracle = allocate(effect * value[:, None] - cost, cost, budget)
    blanket = int(np.argmax(np.nanmean(net, axis=0)))
    risk_score = wide(hold, "base_probability", offers)[:, 0] if "base_probability" in hold.columns else \
        cust["p_before"].to_numpy()
    risk = greedy_by_score(risk_score, np.full(len(ids), blanket), cost, budget)
    rng = np.random.default_rng(seed)
    rand = greedy_by_score(rng.random(len(ids)), rng.integers(0, len(offers), len(ids)), cost, budget)
    values = {name: _value(ch, effect, value, cost) for name, ch in
              (("ours", ours), ("risk_based", risk), ("random", rand), ("oracle", oracle))}
    spent = {name: float(cost[np.nonzero(ch != NONE)[0], ch[ch != NONE]].sum()) for name, ch in
             (("ours", ours), ("risk_based", risk), ("random", rand), ("oracle", oracle))}
    per_offer = {}
    for o, k in col.items():
        ok = np.isfinite(uplift[:, k])
        e, u = effect[ok, k], uplift[ok, k]
        lo, hi = wide(hold, "uplift_low", offers)[ok, k], wide(hold, "uplift_high", offers)[ok, k]
        entry = {"qini_coefficient": qini_coefficient(u, e), "uplift_at_10pct": uplift_at_k(u, e, 0.1),
                 "uplift_at_30pct": uplift_at_k(u, e, 0.3), "mean_estimated_uplift": float(u.mean()),
                 "mean_true_effect": float(e.mean()), "rmse": float(np.sqrt(np.mean((u - e) ** 2))),
                 "correlation": float(np.corrcoef(u, e)[0, 1]) if e.std() > 0 and u.std() > 0 else float("nan"),
                 "interval_coverage": float(((lo <= e) & (e <= hi)).mean()),
                 "interval_coverage_decile_means": _decile_coverage(u, lo, hi, e),
                 "mean_interval_width": float((hi - lo).mean()),
                 "share_confident_positive": float((lo > 0).mean())}
        if "whatif_uplift" in hold.columns:
            w = wide(hold, "whatif_uplift", offers)[ok, k]
            entry["whatif_qini_coefficient"] = qini_coefficient(w, e)
            entry["whatif_correlation"] = float(np.corrcoef(w, e)[0, 1]) if e.std() > 0 and w.std() > 0 else float("nan")
        per_offer[o] = entry
    # Pooled ranking: each customer's best estimated offer vs the true effect of that offer.
    best = np.argmax(np.where(np.isfinite(net), net, -np.inf), axis=1)
    r = np.arange(len(ids))
    pooled_q = qini_coefficient(uplift[r, best] * value, effect[r, best] * value)
    return {
        "holdout_customers": int(len(ids)), "budget": round(budget, 2),
        "policy_value": {k: round(v, 2) for k, v in values.items()},
        "spent": {k: round(v, 2) for k, v in spent.items()},
        "ratio_to_oracle": {k: round(v / values["oracle"], 4) if values["oracle"] else float("nan")
                            for k, v in values.items()},
        "ours_beats_risk_based": bool(values["ours"] > values["risk_based"]),
        "risk_based_offer": offers[blanket],
        "offers_given": {o: int((ours == k).sum()) for o, k in col.items()},
        "oracle_offers_given": {o: int((oracle == k).sum()) for o, k in col.items()},
        "qini_coefficient_mean": float(np.nanmean([v["qini_coefficient"] for v in per_offer.values()])),
        "qini_coefficient_value_pooled": pooled_q,
        "uplift_at_10pct_mean": float(np.nanmean([v["uplift_at_10pct"] for v in per_offer.values()])),
        "per_offer": per_offer,
    }
