"""Stage `evaluate_harden`: the protection part on holdout customers under fresh attacks.

Reads params: harden. Reads data/features, models/base, models/protection and (evaluation
only, through components/core/truth.py) the fraud flag. Writes metrics/harden.json.
"""

from __future__ import annotations

import pandas as pd

from churnguard.adversarial.evaluation import evaluate_protection
from churnguard.adversarial.protection import load_part
from churnguard.core.config import PATHS, load_params
from churnguard.core.metrics import write_metrics
from churnguard.core.skips import skipped, write_skipped_metrics
from churnguard.core.truth import has_truth, load_truth
from churnguard.core.vocabulary import SPLIT
from churnguard.models.tabular import load_part as load_base


def main() -> None:
    cfg = load_params()["harden"]
    reason = skipped(PATHS.models / "protection")
    if reason:
        write_skipped_metrics(PATHS.metrics / "harden.json", reason)
        print(f"skipped evaluate_harden: {reason}")
        return
    table = pd.read_parquet(PATHS.features / "customers.parquet")
    holdout = table[table[SPLIT] == "holdout"]
    fraud = load_truth(PATHS.truth, ["customer_id", "is_fraud"])["is_fraud"] if has_truth(PATHS.truth) else None
    metrics, _attacks = evaluate_protection(
        load_part(PATHS.models / "protection"), load_base(PATHS.models / "base"), holdout, cfg, fraud
    )
    PATHS.metrics.mkdir(parents=True, exist_ok=True)
    write_metrics(PATHS.metrics / "harden.json", metrics)
    c, a, d = metrics["clean"], metrics["attack_success"], metrics["detection"]
    print(f"clean ROC AUC base {c['roc_auc_base']:.4f}  hardened {c['roc_auc_hardened']:.4f}")
    print(
        f"PGD success base {a['pgd_base']:.3f}  hardened {a['pgd_hardened']:.3f}  "
        f"(ratio {a['pgd_ratio_hardened_to_base']:.3f});  GAN base {a['gan_base']:.3f}  hardened {a['gan_hardened']:.3f}"
    )
    print(
        f"legitimate flagged {d['legitimate']['fpr']:.4f} (IsolationForest alone "
        f"{d['legitimate']['fpr_isolation_forest_alone']:.4f})"
    )
    for k in [k for k in d if k.startswith("attacked_") or k == "real_fraudsters"]:
        print(
            f"{k:>24}: flagged {d[k]['flagged']:.3f}  IF alone {d[k]['flagged_isolation_forest_alone']:.3f}  "
            f"TPR@1%FPR {d[k]['tpr_at_1pct_fpr']:.3f}"
        )


if __name__ == "__main__":
    main()
