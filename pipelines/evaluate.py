"""Stage `evaluate`: holdout metrics of the base model beside the oracle's; DVC plots.

Reads params: evaluate. Writes metrics/base.json, plots/roc.csv, plots/calibration.csv.
"""

from __future__ import annotations

import pandas as pd

from churnguard.core.config import PATHS, load_section
from churnguard.core.metrics import write_metrics
from churnguard.core.truth import has_truth, load_truth
from churnguard.core.vocabulary import ID
from churnguard.models.config import EvaluateConfig
from churnguard.models.evaluation import evaluate_base
from churnguard.models.tabular import load_part


def main() -> None:
    cfg = load_section("evaluate", EvaluateConfig)
    table = pd.read_parquet(PATHS.features / "customers.parquet")
    truth = load_truth(PATHS.truth, [ID, "p_received"]) if has_truth(PATHS.truth) else None
    metrics, roc, calib = evaluate_base(table, load_part(PATHS.models / "base"), truth, cfg)
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
