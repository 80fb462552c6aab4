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
    "legit_flagged": ("detection: legitimate customers flagged", False),
    "fraud_flagged": ("detection: real fraudsters flagged", True),
    "fraud_offer_ratio": ("real fraudsters offered: protected / base", False),
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


def collect_world_metrics(metrics_dir: Path) -> dict[str, float | None]:
    base, cold = _read(metrics_dir, "base"), _read(metrics_dir, "coldstart")
    harden, cf = _read(metrics_dir, "harden"), _read(metrics_dir, "fit_counterfactual")
    interventions = _read(metrics_dir, "evaluate_interventions") or _read(metrics_dir, "interventions")
    fraud = _get(harden, "detection", "real_fraudsters") or {}
    out = {
        "base_auc_ratio": base.get("roc_auc_ratio_to_oracle"),
        "coldstart_ratio": cold.get("ensemble_to_oracle_auc"),
        "coldstart_gain": cold.get("ensemble_minus_best_single_auc"),
        "uplift_offer_mean_coverage": ("uplift intervals: offers whose mean interval holds the true mean effect", True),
        "uplift_decile_coverage": ("uplift intervals: deciles whose mean interval holds the true mean effect", True),
        "harden_auc_drop": _get(harden, "clean", "roc_auc_drop"),
        "harden_pgd_ratio": _get(harden, "attack_success", "pgd_ratio_hardened_to_base"),
        "legit_flagged": _get(harden, "detection", "legitimate", "fpr"),
        "fraud_flagged": fraud.get("flagged"),
        "fraud_offer_ratio": (
            fraud["offer_rate_protected"] / fraud["offer_rate_base"] if fraud.get("offer_rate_base") else None
        ),
        "cf_validity": _get(cf, "counterfactual", "validity"),
        **_policy_metrics(interventions.get("policy") or {}),
    }
    return {k: (float(v) if isinstance(v, (int, float)) else None) for k, v in out.items()}
