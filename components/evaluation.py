"""Holdout evaluation of the base model, with the oracle's score beside it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from components.features.table import ID, LABEL, SPLIT
from components.metrics import calibration_table, classification_metrics, roc_points
from components.models.tabular import load_part
from components.truth import has_truth, load_truth


def evaluate_base(features_path: Path, base_dir: Path, truth_dir: Path, cfg: dict[str, Any]
                  ) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Metrics on the holdout for the model and (synthetic source) the oracle.

    The oracle scores each customer by the true probability of the label it was drawn from.
    Returns (metrics, roc points, calibration points).
    """
    table = pd.read_parquet(features_path)
    holdout = table[table[SPLIT] == "holdout"].reset_index(drop=True)
    model = load_part(base_dir)
    p_model = model.predict_proba(holdout)
    y = holdout[LABEL].to_numpy()
    bins = int(cfg["calibration_bins"])
    metrics: dict[str, Any] = {"family": model.family, "model": classification_metrics(y, p_model, bins)}
    rocs = [roc_points(y, p_model, "model")]
    calib = calibration_table(y, p_model, bins).assign(model="model")
    cold = holdout["is_cold_start"].astype(bool).to_numpy()
    if cold.sum() > 20 and len(set(y[cold])) == 2:
        metrics["model_cold_start"] = classification_metrics(y[cold], p_model[cold], bins)
    if has_truth(truth_dir):
        truth = load_truth(truth_dir, [ID, "p_received"]).reindex(holdout[ID])
        p_oracle = truth["p_received"].to_numpy()
        metrics["oracle"] = classification_metrics(y, p_oracle, bins)
        metrics["roc_auc_ratio_to_oracle"] = metrics["model"]["roc_auc"] / metrics["oracle"]["roc_auc"]
        rocs.append(roc_points(y, p_oracle, "oracle"))
        calib = pd.concat([calib, calibration_table(y, p_oracle, bins).assign(model="oracle")])
        if "model_cold_start" in metrics:
            metrics["oracle_cold_start"] = classification_metrics(y[cold], p_oracle[cold], bins)
    else:
        metrics["oracle"] = None
        metrics["note"] = "no ground truth for this data source: oracle not available"
    return metrics, pd.concat(rocs, ignore_index=True), calib
