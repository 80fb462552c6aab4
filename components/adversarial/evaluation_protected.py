"""Evaluation of the protected decision and of the detectors (part of evaluate_harden).

* ``protected_metrics``: the adaptive attacks of adaptive.py on the protected decision, the
  strongest of them beside the base model's success under plain PGD, who gets an offer
  (real fraudsters and legitimate customers, against the base model), the decision score's
  clean ROC AUC, and the frontier of decision scores x veto budgets;
* ``detection_metrics``: flag rates on attacked inputs, real fraudsters and legitimate
  customers; TPR at 1 % and 2 % FPR of the combined score and of each detector, beside a
  supervised ceiling (gradient boosting trained on the true fraud labels of the training
  customers: a reference only, never part of the product).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from churnguard.adversarial.adaptive import (
    AttackResult,
    ProtectedTarget,
    decision_based_attack,
    detector_aware_attack,
    gradient_attack,
    minimal_perturbation_attack,
)
from churnguard.adversarial.attacks import AttackSpace
from churnguard.adversarial.certify import corner_attack
from churnguard.adversarial.decision import ProtectedDecision
from churnguard.adversarial.differentiable import DifferentiableDecision, fit_forest_surrogate
from churnguard.adversarial.evaluation_context import Evaluation
from churnguard.adversarial.training import attackable_mask, established_mask
from churnguard.core.vocabulary import ID, LABEL

FPRS = (0.01, 0.02)
FRONTIER_FP_BUDGETS = (0.005, 0.01, 0.02)


def _tpr_at(score: np.ndarray, legit: np.ndarray, positive: np.ndarray, fpr: float) -> float | None:
    if not positive.any() or not legit.any():
        return None
    return float((score[positive] > np.quantile(score[legit], 1 - fpr)).mean())


def _adaptive_attacks(ev: Evaluation, pool: pd.DataFrame, target: ProtectedTarget) -> dict[str, AttackResult]:
    part, ac = ev.part, ev.cfg.evaluate.adaptive
    space = AttackSpace.build(pool, part.encoder, part.bounds)
    dd = DifferentiableDecision(part, fit_forest_surrogate(part, [space], ev.seed))
    direction = torch.as_tensor(part.meta["behaviour_directions"], dtype=torch.float32)
    decision = part.decision
    assert decision is not None

    def decision_score(adv: pd.DataFrame) -> np.ndarray:
        return decision.score(ev.base.predict_proba(adv), part.decision_probability(adv))

    corner = corner_attack(space, direction, decision_score)
    out = {"corner": AttackResult(corner, target.offered(corner))}
    out["pgd_unaware"] = gradient_attack(space, dd, target, ac, 0.0, ev.seed + 41, 0.0)
    out["detector_aware"] = detector_aware_attack(space, dd, target, ac, ev.seed + 43)
    ev.progress("detector-aware attack done")
    out["minimal"], smallest = minimal_perturbation_attack(space.frame, part, dd, target, ac)
    out["minimal"].adversarial.attrs["smallest_budget"] = smallest
    blackbox = space.frame.head(ac.blackbox_customers)
    out["decision_based"] = decision_based_attack(blackbox, part, target, ac, ev.seed + 47)
    ev.progress("minimal-perturbation and decision-based attacks done")
    return out


def _attack_summary(results: dict[str, AttackResult], n_bb: int, pgd_base: float) -> dict[str, Any]:
    s: dict[str, Any] = {k: float(r.success.mean()) if len(r.success) else 0.0 for k, r in results.items()}
    white = np.zeros(len(results["corner"].success), bool)
    for k in ("corner", "pgd_unaware", "detector_aware", "minimal"):
        white |= results[k].success
    with_bb = white[:n_bb] | results["decision_based"].success
    s["strongest"] = float(white.mean()) if len(white) else 0.0
    s["strongest_on_decision_based_customers"] = float(with_bb.mean()) if n_bb else 0.0
    s["strongest_any"] = max(s["strongest"], s["strongest_on_decision_based_customers"])
    smallest = results["minimal"].adversarial.attrs.get("smallest_budget", np.zeros(0))
    s["minimal_median_budget_share"] = float(np.nanmedian(smallest)) if np.isfinite(smallest).any() else None
    s["pgd_base_unprotected"] = pgd_base
    s["strongest_ratio_to_base_pgd"] = s["strongest_any"] / max(pgd_base, 1e-9)
    s["decision_based_customers"] = n_bb
    return s


def _outcomes(decision: ProtectedDecision, base_p, hard_p, verdict, base_offer, y, fraud, legit, est) -> dict[str, Any]:
    """Who gets an offer under ``decision`` beside the base model, and the score's clean ROC AUC."""
    offer = decision.offer(base_p, hard_p, verdict)

    def rate(mask: np.ndarray, o: np.ndarray) -> float:
        return float(o[mask].mean()) if mask.any() else float("nan")

    out = {
        "offer_share": float(offer.mean()),
        "roc_auc_drop_vs_base": float(roc_auc_score(y, base_p) - roc_auc_score(y, decision.score(base_p, hard_p))),
        "legitimate_flagged": rate(legit & est, np.asarray(verdict) != "clean"),
        "legitimate_offer_rate": rate(legit, offer),
        "legitimate_offer_rate_base": rate(legit, base_offer),
    }
    out["legitimate_offer_ratio"] = out["legitimate_offer_rate"] / max(out["legitimate_offer_rate_base"], 1e-9)
    if fraud.any():
        out["fraud_offer_rate"], out["fraud_offer_rate_base"] = rate(fraud, offer), rate(fraud, base_offer)
        out["fraud_offer_ratio"] = out["fraud_offer_rate"] / max(out["fraud_offer_rate_base"], 1e-9)
    return out


def _frontier(ev: Evaluation, train: pd.DataFrame, base_p, hard_p, combined, outcome_args) -> list[dict[str, Any]]:
    """Every decision score x veto budget, thresholds refitted on the training customers (no truth)."""
    part, det = ev.part, ev.part.detector
    tb, th = ev.base.predict_proba(train), part.decision_probability(train)
    est_tr = established_mask(train)
    comb_tr = np.zeros(len(train))
    comb_tr[est_tr] = det.assess(train[est_tr])["combined"]
    rows = []
    for fp in FRONTIER_FP_BUDGETS:
        thr = float(np.quantile(det.calibration, 1 - fp))
        verdict = np.where(combined > thr, "suspicious", "clean")
        for kind in ("gate", "base", "hardened"):
            d = ProtectedDecision.fit(kind, tb, th, comb_tr <= thr, ev.cfg.offer_share)
            rows.append({"score": kind, "fp_budget": fp, **_outcomes(d, base_p, hard_p, verdict, *outcome_args)})
    return rows


def protected_metrics(
    ev: Evaluation, base_p: np.ndarray, fraud: np.ndarray, train: pd.DataFrame | None, pgd_base: float
) -> tuple[dict[str, Any], dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    part, holdout = ev.part, ev.holdout
    assert part.decision is not None, "the protection part has no protected decision (rerun harden)"
    target = ProtectedTarget(part, ev.base)
    prot = part.protect(holdout, base_p)
    offered = prot["offer_eligible"].to_numpy(bool)
    below = holdout[~offered & attackable_mask(holdout, part.bounds.mutable)]
    pool = below.sample(min(ev.cfg.evaluate.adaptive.customers, len(below)), random_state=ev.seed + 3)
    results = _adaptive_attacks(ev, pool.reset_index(drop=True), target)
    n_bb = len(results["decision_based"].success)
    m: dict[str, Any] = {"attack_success": _attack_summary(results, n_bb, pgd_base), "attacked_customers": len(pool)}
    est = established_mask(holdout)
    hard_p, verdict = part.decision_probability(holdout), prot["protection_verdict"].to_numpy()
    base_offer = base_p >= part.thresholds["base_probability"]
    args = (base_offer, holdout[LABEL].to_numpy(), fraud, ~fraud, est)
    m["outcomes"] = _outcomes(part.decision, base_p, hard_p, verdict, *args)
    if train is not None:
        combined = np.zeros(len(holdout))
        combined[est] = part.detector.assess(holdout[est])["combined"]
        m["frontier"] = _frontier(ev, train.reset_index(drop=True), base_p, hard_p, combined, args)
        shipped = [r for r in m["frontier"] if r["score"] == part.decision.kind]
        if fraud.any():
            m["fraud_offer_ratio_worst_on_frontier"] = max(r["fraud_offer_ratio"] for r in shipped)
    adv = {f"protected_{k}": r.adversarial for k, r in results.items()}
    originals = {f"protected_{k}": pool.head(len(r.success)) for k, r in results.items()}
    return m, adv, originals


def _supervised_ceiling(ev: Evaluation, train: pd.DataFrame, is_fraud: pd.Series, legit, fraud, est) -> dict:
    """TPR at 1 % / 2 % FPR of gradient boosting trained on the training customers' true fraud
    labels (evaluation only: the product never sees them)."""
    tr = train[established_mask(train)].reset_index(drop=True)
    y = is_fraud.reindex(tr[ID]).fillna(False).to_numpy().astype(bool)
    if y.sum() < 5:
        return {}
    enc = ev.part.encoder
    clf = HistGradientBoostingClassifier(max_iter=200, random_state=ev.seed).fit(enc.encode(tr).numpy(), y)
    score = np.zeros(len(ev.holdout))
    score[est] = clf.predict_proba(enc.encode(ev.holdout[est]).numpy())[:, 1]
    return {f"tpr_at_{int(f * 100)}pct_fpr": _tpr_at(score, legit & est, fraud & est, f) for f in FPRS}


def detection_metrics(
    ev: Evaluation, attacks, ok, fraud, base_p, hard_p, is_fraud: pd.Series | None, train: pd.DataFrame | None
) -> dict[str, Any]:
    part, holdout = ev.part, ev.holdout
    det = part.detector
    est = established_mask(holdout)
    legit = est & ~fraud
    clean = det.assess(holdout[est])
    scores = {"combined": clean["combined"], **{k: clean[k] for k in det.names}}
    flagged = np.zeros(len(holdout), bool)
    flagged[est] = clean["verdict"] != "clean"
    out: dict[str, Any] = {
        "legitimate": {
            "n": int(legit.sum()),
            "fpr": float(flagged[legit].mean()) if legit.any() else None,
            "fpr_isolation_forest_alone": float(clean["isolation_forest_flag"][legit[est]].mean()),
        }
    }
    thr1 = float(np.quantile(clean["combined"][legit[est]], 0.99)) if legit.any() else np.inf
    for k, a in attacks.items():
        r = det.assess(a)
        out[f"attacked_{k}"] = {
            "n": len(a),
            "flagged": float((r["verdict"] != "clean").mean()) if len(a) else 0.0,
            "tpr_at_1pct_fpr": float((r["combined"] > thr1).mean()) if len(a) else 0.0,
            "flip_and_clean": float((ok[k] & (r["verdict"] == "clean")).mean()) if len(a) else 0.0,
        }
    if fraud.any():
        fr = fraud[est]
        out["real_fraudsters"] = {
            "n": int(fraud.sum()),
            "flagged": float(flagged[fraud].mean()),
            "offer_rate_base": float((base_p[fraud] >= part.thresholds["base_probability"]).mean()),
            "offer_rate_hardened": float((hard_p[fraud] >= part.thresholds["hardened_probability"]).mean()),
            **{
                f"tpr_at_{int(f * 100)}pct_fpr": {k: _tpr_at(s, legit[est], fr, f) for k, s in scores.items()}
                for f in FPRS
            },
        }
        if train is not None and is_fraud is not None:
            ceiling = _supervised_ceiling(ev, train, is_fraud, legit, fraud, est)
            out["supervised_ceiling"] = ceiling
            tpr2 = out["real_fraudsters"]["tpr_at_2pct_fpr"]["combined"]
            if ceiling.get("tpr_at_2pct_fpr"):
                out["shipped_to_ceiling_tpr_at_2pct_fpr"] = tpr2 / ceiling["tpr_at_2pct_fpr"]
    out["thresholds"], out["weights"] = det.thresholds, det.weights
    out["ground_truth"] = is_fraud is not None
    return out
