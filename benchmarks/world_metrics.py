"""The headline metrics of one world, read from its stages' ``metrics/*.json`` (evaluation output only).

``HEADLINES``: key -> (label in the table, higher is better). A metric a world cannot produce
(e.g. the cold-start cohort is empty) is simply absent for that world.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HEADLINES: dict[str, tuple[str, bool]] = {
    "base_auc_ratio": ("base model ROC AUC / oracle", True),
    "coldstart_ratio": ("cold start: ensemble ROC AUC / oracle", True),
    "coldstart_gain": ("cold start: ensemble - best single part (ROC AUC)", True),
    "policy_shipped_ratio": ("offers: shipped plan, % of oracle value", True),
    "policy_uplift_ratio": ("offers: uplift plan, % of oracle value", True),
    "policy_risk_ratio": ("offers: risk-based targeting, % of oracle value", True),
    "policy_random_ratio": ("offers: random, % of oracle value", True),
    "shipped_minus_risk": ("offers: shipped - risk-based, % of oracle value", True),
    "shipped_is_uplift": ("offers: uplift plan shipped (1) or fallback (0)", True),
    "ope_coverage": ("offers: OPE interval contains the true value (share of policies)", True),
    "ope_relative_error": ("offers: OPE |estimate - truth| / oracle value (mean over policies)", False),
    "uplift_offer_mean_coverage": ("uplift intervals: offers whose mean interval holds the true mean effect", True),
    "uplift_decile_coverage": ("uplift intervals: deciles whose mean interval holds the true mean effect", True),
    "harden_auc_drop": ("hardened model: clean ROC AUC drop", False),
    "harden_pgd_ratio": ("hardened model: PGD success / base", False),
    "decision_auc_drop": ("protected decision: score's clean ROC AUC drop vs base", False),
    "protected_attack_ratio": ("protected decision: strongest adaptive attack / base under PGD", False),
    "legit_flagged": ("detection: legitimate customers flagged", False),
    "legit_offer_ratio": ("legitimate customers offered: protected / base", True),
    "fraud_flagged": ("detection: real fraudsters flagged", True),
    "fraud_offer_ratio": ("real fraudsters offered: protected / base", False),
    "fraud_offer_ratio_frontier": ("real fraudsters offered: protected / base, worst on the frontier", False),
    "fraud_tpr_1pct": ("detection: real fraudsters at 1 % FPR", True),
    "fraud_tpr_2pct": ("detection: real fraudsters at 2 % FPR", True),
    "fraud_tpr_2pct_vs_ceiling": ("detection at 2 % FPR / supervised ceiling", True),
    "cf_validity": ("counterfactual validity", True),
}


def _read(metrics_dir: Path, name: str) -> dict[str, Any]:
    path = metrics_dir / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _get(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _policy_metrics(policy: dict[str, Any]) -> dict[str, Any]:
    ratio = policy.get("ratio_to_oracle") or {}
    uplift = ratio.get("uplift_plan", ratio.get("ours"))
    shipped = ratio.get("shipped", uplift)
    out = {
        "policy_shipped_ratio": shipped,
        "policy_uplift_ratio": uplift,
        "policy_risk_ratio": ratio.get("risk_based"),
        "policy_random_ratio": ratio.get("random"),
    }
    if shipped is not None and ratio.get("risk_based") is not None:
        out["shipped_minus_risk"] = shipped - ratio["risk_based"]
    if "shipped_policy" in policy:
        out["shipped_is_uplift"] = float(policy["shipped_policy"] == "uplift_plan")
    ope = policy.get("off_policy") or {}
    out["ope_coverage"] = ope.get("coverage")
    out["ope_relative_error"] = ope.get("mean_abs_error_over_oracle")
    out["uplift_offer_mean_coverage"] = policy.get("interval_coverage_offer_means")
    out["uplift_decile_coverage"] = policy.get("interval_coverage_decile_means")
    return out


def _adversarial_metrics(harden: dict[str, Any]) -> dict[str, Any]:
    fraud = _get(harden, "detection", "real_fraudsters") or {}
    outcomes = _get(harden, "protected_decision", "outcomes") or {}
    return {
        "harden_auc_drop": _get(harden, "clean", "roc_auc_drop"),
        "harden_pgd_ratio": _get(harden, "attack_success", "pgd_ratio_hardened_to_base"),
        "decision_auc_drop": outcomes.get("roc_auc_drop_vs_base"),
        "protected_attack_ratio": _get(harden, "protected_decision", "attack_success", "strongest_ratio_to_base_pgd"),
        "legit_flagged": _get(harden, "detection", "legitimate", "fpr"),
        "legit_offer_ratio": outcomes.get("legitimate_offer_ratio"),
        "fraud_flagged": fraud.get("flagged"),
        "fraud_offer_ratio": outcomes.get("fraud_offer_ratio"),
        "fraud_offer_ratio_frontier": _get(harden, "protected_decision", "fraud_offer_ratio_worst_on_frontier"),
        "fraud_tpr_1pct": _get(fraud, "tpr_at_1pct_fpr", "combined"),
        "fraud_tpr_2pct": _get(fraud, "tpr_at_2pct_fpr", "combined"),
        "fraud_tpr_2pct_vs_ceiling": _get(harden, "detection", "shipped_to_ceiling_tpr_at_2pct_fpr"),
    }


def collect_world_metrics(metrics_dir: Path) -> dict[str, float | None]:
    base, cold = _read(metrics_dir, "base"), _read(metrics_dir, "coldstart")
    harden, cf = _read(metrics_dir, "harden"), _read(metrics_dir, "fit_counterfactual")
    interventions = _read(metrics_dir, "evaluate_interventions") or _read(metrics_dir, "interventions")
    out = {
        "base_auc_ratio": base.get("roc_auc_ratio_to_oracle"),
        "coldstart_ratio": cold.get("ensemble_to_oracle_auc"),
        "coldstart_gain": cold.get("ensemble_minus_best_single_auc"),
        **_adversarial_metrics(harden),
        "cf_validity": _get(cf, "counterfactual", "validity"),
        **_policy_metrics(interventions.get("policy") or {}),
    }
    return {k: (float(v) if isinstance(v, (int, float)) else None) for k, v in out.items()}
