"""Stage `evaluate_coldstart`: holdout cold-start cohort metrics of the cluster prior, the GBM on
demographics + graph features, the GNN, the ensemble and the oracle.

Reads params: evaluate_coldstart. Writes metrics/coldstart.json.
"""

from __future__ import annotations

from churnguard.coldstart.evaluation import evaluate_coldstart
from churnguard.core.config import PATHS, section
from churnguard.core.metrics import write_metrics


def main() -> None:
    cfg = section("evaluate_coldstart")
    metrics = evaluate_coldstart(PATHS.features / "customers.parquet", PATHS.models / "coldstart", PATHS.truth, cfg)
    PATHS.metrics.mkdir(parents=True, exist_ok=True)
    write_metrics(PATHS.metrics / "coldstart.json", metrics)
    for name, m in metrics["cohort"].items():
        if m:
            print(f"{name:>14}: ROC AUC {m['roc_auc']:.4f}  top-decile lift {m['top_decile_lift']:.3f}")
    if metrics.get("ensemble_to_oracle_auc") is not None:
        print(f"ensemble / oracle ROC AUC: {metrics['ensemble_to_oracle_auc']:.4f}")


if __name__ == "__main__":
    main()
