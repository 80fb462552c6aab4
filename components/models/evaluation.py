"""Holdout evaluation of the base model, with the oracle's score beside it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from churnguard.core.metrics import calibration_table, classification_metrics, roc_points
from churnguard.core.vocabulary import ID, LABEL, SPLIT
from churnguard.models.config import EvaluateConfig, typed
from churnguard.models.tabular import BaseModel


def evaluate_base(
    table: pd.DataFrame, model: BaseModel, truth: pd.DataFrame | None, cfg: EvaluateConfig | Mapping[str, Any]
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Metrics on the holdout for the model and (synthetic source) the oracle.

    The oracle scores each customer by the true probability of the label it was drawn from
    (``truth``: ``p_received`` indexed by customer_id; None for a source without ground truth).
    Returns (metrics, roc points, calibration points).
    """
    holdout = table[table[SPLIT] == "holdout"].reset_index(drop=True)
    p_model = model.predict_proba(holdout)
    y = holdout[LABEL].to_numpy()
    bins = typed(EvaluateConfig, cfg, "evaluate").calibration_bins
    metrics: dict[str, Any] = {"family": model.family, "model": classification_metrics(y, p_model, bins)}
    rocs = [roc_points(y, p_model, "model")]
    calib = calibration_table(y, p_model, bins).assign(model="model")
    cold = holdout["is_cold_start"].astype(bool).to_numpy()
    if cold.sum() > 20 and len(set(y[cold])) == 2:
        metrics["model_cold_start"] = classification_metrics(y[cold], p_model[cold], bins)
    if truth is not None:
        p_oracle = truth["p_received"].reindex(holdout[ID]).to_numpy()
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


def curve_images(y, p, out_dir: Path, bins: int = 10) -> list[Path]:
    """ROC, calibration and lift curves of one model as PNGs (MLflow shows images; DVC keeps the CSVs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.metrics import roc_auc_score, roc_curve

    from churnguard.core.metrics import calibration_table

    y, p = np.asarray(y).astype(int), np.asarray(p, dtype=float)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=100)
        plt.close(fig)
        paths.append(out_dir / name)

    fpr, tpr, _ = roc_curve(y, p)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"model (AUC {roc_auc_score(y, p):.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="random")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, holdout")
    ax.legend(loc="lower right")
    save(fig, "roc.png")

    table = calibration_table(y, p, bins)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(table["predicted"], table["observed"], "o-", label="model")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    ax.set(xlabel="mean predicted churn", ylabel="observed churn rate", title="Calibration, holdout")
    ax.legend(loc="upper left")
    save(fig, "calibration.png")

    order = np.argsort(-p, kind="stable")
    share = np.arange(1, len(y) + 1) / len(y)
    lift = np.cumsum(y[order]) / np.arange(1, len(y) + 1) / max(y.mean(), 1e-12)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(share, lift, label="model")
    ax.axhline(1.0, linestyle="--", color="grey", label="random")
    ax.set(xlabel="share of customers targeted (highest scores first)", ylabel="cumulative lift", title="Lift, holdout")
    ax.legend(loc="upper right")
    save(fig, "lift.png")
    return paths
