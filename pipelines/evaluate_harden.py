"""Stage `evaluate_harden`: the protection part on holdout customers under fresh attacks.

Reads params: harden. Reads data/features, models/base, models/protection and (evaluation
only, through components/core/truth.py) the fraud flag. Writes metrics/harden.json.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from churnguard.adversarial.config import load_harden_config
from churnguard.adversarial.evaluation import evaluate_protection
from churnguard.adversarial.protection import load_part
from churnguard.core.config import PATHS
from churnguard.core.metrics import write_metrics
from churnguard.core.skips import skipped, write_skipped_metrics
from churnguard.core.truth import has_truth, load_truth
from churnguard.core.vocabulary import SPLIT
from churnguard.models.tabular import load_part as load_base


def summary(metrics: dict[str, Any]) -> list[str]:
    """The headline lines of metrics/harden.json."""
    c, a, d, p = metrics["clean"], metrics["attack_success"], metrics["detection"], metrics["protected_decision"]
    o, s = p["outcomes"], p["attack_success"]
    lines = [
        f"clean ROC AUC base {c['roc_auc_base']:.4f}  hardened {c['roc_auc_hardened']:.4f}  "
        f"decision score drop {o['roc_auc_drop_vs_base']:.4f}",
        f"PGD success base {a['pgd_base']:.3f}  hardened {a['pgd_hardened']:.3f} "
        f"(ratio {a['pgd_ratio_hardened_to_base']:.3f})",
        "protected decision, attack success: "
        + "  ".join(f"{k} {s[k]:.3f}" for k in ("corner", "pgd_unaware", "detector_aware", "minimal", "decision_based"))
        + f"  strongest {s['strongest_any']:.3f} = {s['strongest_ratio_to_base_pgd']:.3f} x base PGD",
        f"legitimate flagged {d['legitimate']['fpr']:.4f}; legitimate offer rate / base {o['legitimate_offer_ratio']:.3f}",
    ]
    if "fraud_offer_ratio" in o:
        ceiling = d.get("supervised_ceiling", {})
        lines.append(
            f"real fraudsters offered / base {o['fraud_offer_ratio']:.3f} (worst on the frontier "
            f"{p.get('fraud_offer_ratio_worst_on_frontier', float('nan')):.3f}); TPR at 2 % FPR "
            f"{d['real_fraudsters']['tpr_at_2pct_fpr']['combined']:.3f} (supervised ceiling "
            f"{ceiling.get('tpr_at_2pct_fpr') or float('nan'):.3f})"
        )
    return lines


def main() -> None:
    cfg = load_harden_config()
    reason = skipped(PATHS.models / "protection")
    if reason:
        write_skipped_metrics(PATHS.metrics / "harden.json", reason)
        print(f"skipped evaluate_harden: {reason}")
        return
    table = pd.read_parquet(PATHS.features / "customers.parquet")
    fraud = load_truth(PATHS.truth, ["customer_id", "is_fraud"])["is_fraud"] if has_truth(PATHS.truth) else None
    metrics, _attacks = evaluate_protection(
        load_part(PATHS.models / "protection"),
        load_base(PATHS.models / "base"),
        table[table[SPLIT] == "holdout"],
        cfg,
        fraud,
        train=table[table[SPLIT] == "train"],
    )
    PATHS.metrics.mkdir(parents=True, exist_ok=True)
    write_metrics(PATHS.metrics / "harden.json", metrics)
    print("\n".join(summary(metrics)))


if __name__ == "__main__":
    main()
