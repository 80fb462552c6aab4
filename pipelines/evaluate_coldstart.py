"""Stage `evaluate_coldstart`: holdout cold-start cohort metrics of the cluster prior, the GBM on
demographics + graph features, the GNN, the ensemble and the oracle.

Reads params: evaluate_coldstart. Writes metrics/coldstart.json.
"""

from __future__ import annotations

import pandas as pd

from churnguard.coldstart.config import EvaluateColdstartConfig
from churnguard.coldstart.evaluation import evaluate_coldstart
from churnguard.coldstart.part import load_part
from churnguard.core.config import PATHS, load_section
from churnguard.core.metrics import write_metrics
from churnguard.core.truth import has_truth, load_truth
from churnguard.core.vocabulary import ID


def main() -> None:
    cfg = load_section("evaluate_coldstart", EvaluateColdstartConfig)
    table = pd.read_parquet(PATHS.features / "customers.parquet")
    truth = load_truth(PATHS.truth, [ID, "p_received"]) if has_truth(PATHS.truth) else None
    metrics = evaluate_coldstart(table, load_part(PATHS.models / "coldstart"), truth, cfg)
    PATHS.metrics.mkdir(parents=True, exist_ok=True)
    write_metrics(PATHS.metrics / "coldstart.json", metrics)
    for name, m in metrics["cohort"].items():
        if m:
            print(f"{name:>14}: ROC AUC {m['roc_auc']:.4f}  top-decile lift {m['top_decile_lift']:.3f}")
    if metrics.get("ensemble_to_oracle_auc") is not None:
        print(f"ensemble / oracle ROC AUC: {metrics['ensemble_to_oracle_auc']:.4f}")


if __name__ == "__main__":
    main()
