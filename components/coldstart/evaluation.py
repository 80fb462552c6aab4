"""Cold-start evaluation: the holdout customers without history, every component beside the oracle.

The cohort (train and holdout cold-start customers alike) is scored as one batch of new nodes,
exactly as :meth:`ColdStartPart.components` scores new customers; metrics use the holdout rows.
Only this module (evaluation) reads the truth, through :mod:`churnguard.core.truth`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnguard.coldstart.part import load_part
from churnguard.core.metrics import classification_metrics
from churnguard.core.truth import has_truth, load_truth
from churnguard.core.vocabulary import ID, LABEL, SPLIT

MODELS = {
    "cluster_prior": "(a) cluster prior",
    "gbm": "(b) GBM demographics + hand-made graph features",
    "gnn": "(c) GNN (cluster fallback without edges)",
    "ensemble": "(d) ensemble",
    "oracle": "(e) oracle",
}


def _metrics(y: np.ndarray, p: np.ndarray, bins: int) -> dict[str, float] | None:
    if len(y) < 20 or len(np.unique(y)) < 2:
        return None
    return classification_metrics(y, p, bins)


def evaluate_coldstart(features_path: Path, part_dir: Path, truth_dir: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    table = pd.read_parquet(features_path)
    part = load_part(part_dir)
    cohort = table[table["is_cold_start"].astype(bool)].reset_index(drop=True)
    comps = part.components(cohort)
    hold = cohort[SPLIT].to_numpy() == "holdout"
    y = cohort[LABEL].to_numpy()[hold]
    scores = {k: comps[k].to_numpy()[hold] for k in ("cluster_prior", "gbm", "gnn", "ensemble")}
    if has_truth(truth_dir):
        truth = load_truth(truth_dir, [ID, "p_received"]).reindex(cohort[ID].astype(str))
        scores["oracle"] = truth["p_received"].to_numpy()[hold]
    bins = int(cfg["calibration_bins"])
    edges = comps["has_edges"].to_numpy()[hold]
    out: dict[str, Any] = {
        "models": MODELS,
        "n_holdout_cold_start": int(hold.sum()),
        "with_edges": int(edges.sum()),
        "no_edges": int((~edges).sum()),
        "coverage": float(np.isfinite(comps["ensemble"].to_numpy()).mean()) if len(comps) else None,
        "gnn_architecture": part.gnn_arch,
        "fallback_share": float((comps["source"] == "cluster_fallback").mean()) if len(comps) else None,
    }
    for group, mask in (("cohort", np.ones_like(edges)), ("cohort_with_edges", edges), ("cohort_no_edges", ~edges)):
        out[group] = {k: _metrics(y[mask], v[mask], bins) for k, v in scores.items()}
    c = out["cohort"]
    if c.get("oracle") and c.get("ensemble"):
        out["ensemble_to_oracle_auc"] = c["ensemble"]["roc_auc"] / c["oracle"]["roc_auc"]
        best = max(("cluster_prior", "gbm", "gnn"), key=lambda k: c[k]["roc_auc"] if c[k] else -1)
        out["best_single_component"] = best
        out["ensemble_minus_best_single_auc"] = c["ensemble"]["roc_auc"] - c[best]["roc_auc"]
    if not has_truth(truth_dir):
        out["note"] = "no ground truth for this data source: oracle not available"
    return out
