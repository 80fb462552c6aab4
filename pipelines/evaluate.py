"""Stage `evaluate`: holdout metrics of the base model beside the oracle's; DVC plots.

Reads params: evaluate. Writes metrics/base.json, plots/roc.csv, plots/calibration.csv.
"""

from __future__ import annotations

from churnguard.core.config import PATHS, load_params
from churnguard.core.metrics import write_metrics
from churnguard.models.evaluation import evaluate_base


def main() -> None:
    cfg = load_params()["evaluate"]
    metrics, roc, calib = evaluate_base(PATHS.features / "customers.parquet", PATHS.models / "base", PATHS.truth, cfg)
    PATHS.metrics.mkdir(parents=True, exist_ok=True)
    PATHS.plots.mkdir(parents=True, exist_ok=True)
    write_metrics(PATHS.metrics / "base.json", metrics)
    roc.to_csv(PATHS.plots / "roc.csv", index=False)
    calib.to_csv(PATHS.plots / "calibration.csv", index=False)
    m, o = metrics["model"], metrics.get("oracle")
    for key in ("roc_auc", "pr_auc", "brier", "top_decile_lift", "calibration_error"):
        print(f"{key:>18}: model {m[key]:.4f}" + (f"   oracle {o[key]:.4f}" if o else ""))
    if o:
        print(f"ROC AUC ratio to oracle: {metrics['roc_auc_ratio_to_oracle']:.4f}")


if __name__ == "__main__":
    main()
