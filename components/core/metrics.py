"""Classification metrics shared by every evaluation (base, cold start, hardened...)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve


def top_decile_lift(y: np.ndarray, p: np.ndarray) -> float:
    """Churn rate among the 10% highest scores divided by the overall churn rate."""
    y, p = np.asarray(y), np.asarray(p)
    k = max(1, int(np.ceil(0.1 * len(y))))
    top = np.argsort(-p, kind="stable")[:k]
    base = y.mean()
    return float(y[top].mean() / base) if base > 0 else float("nan")


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed churn rate per equal-width probability bin."""
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    df = pd.DataFrame({"bin": idx, "y": y, "p": p})
    g = df.groupby("bin").agg(predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size")).reset_index()
    return g


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    t = calibration_table(y, p, bins)
    return float((t["n"] * (t["predicted"] - t["observed"]).abs()).sum() / t["n"].sum())


def classification_metrics(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier, top-decile lift and expected calibration error."""
    y, p = np.asarray(y).astype(int), np.asarray(p, dtype=float)
    if len(np.unique(y)) < 2:
        raise ValueError("metrics need both classes in the evaluation set")
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "top_decile_lift": top_decile_lift(y, p),
        "calibration_error": expected_calibration_error(y, p, bins),
        "n": len(y),
        "positive_rate": float(y.mean()),
    }


def roc_points(y: np.ndarray, p: np.ndarray, name: str, max_points: int = 200) -> pd.DataFrame:
    """A thinned ROC curve for DVC plots."""
    fpr, tpr, _ = roc_curve(y, p)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(max_points, len(fpr))).astype(int))
    return pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep], "model": name})


# --- Metrics files that stay byte-identical between runs of the same commit and params -------------
# Wall-clock timings differ on every run, and float noise in the last digits (thread scheduling in
# BLAS/torch) would dirty the git tree after every `make run`. So every stage writes its metrics
# through write_metrics: timings go to metrics/timings/<file> (git-ignored, not a DVC output) and
# the remaining floats are rounded to METRIC_DECIMALS.
METRIC_DECIMALS = 4
TIMING_KEY = re.compile(r"(^|_)(seconds|per_second)$")


def split_timings(payload: Any) -> tuple[Any, dict[str, Any]]:
    """(payload without timing keys, floats rounded; {dotted key: timing}) for a metrics dict."""
    timings: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> Any:
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if isinstance(k, str) and TIMING_KEY.search(k):
                    timings[prefix + k] = v  # a number, or a dict of them ({"seconds": {"fit": ...}})
                else:
                    out[k] = walk(v, f"{prefix}{k}.")
            return out
        if isinstance(node, (list, tuple)):
            return [walk(v, prefix) for v in node]
        if isinstance(node, (float, np.floating)):
            return round(float(node), METRIC_DECIMALS) if np.isfinite(node) else float(node)
        if isinstance(node, np.integer):
            return int(node)
        return node

    return walk(payload, ""), timings


def write_metrics(path: Path, payload: dict[str, Any]) -> dict[str, Any]:
    """Write a stage's metrics JSON deterministically; timings go to ``<metrics dir>/timings/<name>``.

    Returns what was written (rounded, without timings).
    """
    clean, timings = split_timings(payload)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean, indent=2, default=str) + "\n")
    if timings:
        timing_file = path.parent / "timings" / path.name
        timing_file.parent.mkdir(parents=True, exist_ok=True)
        timing_file.write_text(json.dumps(timings, indent=2, default=str) + "\n")
    return clean
